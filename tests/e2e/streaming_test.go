package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/stepup-auth/traefikstepup/tests/e2e/realparts"
)

// dialWebSocket opens a WebSocket to path on the app router through Traefik.
func dialWebSocket(t *testing.T, path, token string, extra map[string]string) (*websocket.Conn, result, error) {
	t.Helper()

	h := http.Header{}
	h.Set("Host", hostApp)
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	for k, v := range extra {
		h.Set(k, v)
	}
	dialer := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	u := "ws" + strings.TrimPrefix(env.traefik.URL, "http") + path

	conn, resp, err := dialer.Dial(u, h)
	if resp == nil {
		return conn, result{}, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	return conn, result{status: resp.StatusCode, header: resp.Header, body: body}, err
}

func TestWebSocket(t *testing.T) {
	t.Parallel()

	t.Run("loa:1 token gets the step-up challenge, not an upgrade", func(t *testing.T) {
		conn, res, err := dialWebSocket(t, "/admin/ws", token(t, nil, lowClaims()), nil)
		if err == nil {
			conn.Close()
			t.Fatalf("upgrade succeeded, want 401")
		}
		checkWant(t, res, want{status: 401, challenge: lowLevel})
	})

	t.Run("no token from a page gets 401, not a redirect", func(t *testing.T) {
		conn, res, err := dialWebSocket(t, "/admin/ws", "", map[string]string{
			"Sec-Fetch-Mode": "websocket", "Accept": "text/html"})
		if err == nil {
			conn.Close()
			t.Fatalf("upgrade succeeded, want 401")
		}
		checkWant(t, res, want{status: 401, challenge: noToken(realm)})
	})

	t.Run("good token upgrades through Traefik and echoes", func(t *testing.T) {
		conn, res, err := dialWebSocket(t, "/admin/ws", token(t, nil, goodClaims()), spoofed)
		if err != nil {
			t.Fatalf("upgrade: %v (status %d, WWW-Authenticate %q)", err, res.status,
				res.header.Get("WWW-Authenticate"))
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))

		var e realparts.Echo
		if err := conn.ReadJSON(&e); err != nil {
			t.Fatalf("reading the handshake echo: %v", err)
		}
		checkUpstream(t, result{echo: &e}, map[string]string{
			"X-Stepup-Subject": "alice", "X-Stepup-Email": "alice@example.com"})

		for _, msg := range []string{"ping", "second message"} {
			if err := conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
				t.Fatalf("write: %v", err)
			}
			_, got, err := conn.ReadMessage()
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if string(got) != msg {
				t.Errorf("echo %q, want %q", got, msg)
			}
		}
	})
}

func TestServerSentEvents(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name   string
		header map[string]string
	}{
		{name: "EventSource without token", header: map[string]string{
			"Accept": "text/event-stream", "Sec-Fetch-Mode": "cors"}},
		{name: "old client asking for events and html", header: map[string]string{
			"Accept": "text/event-stream, text/html"}},
	}
	for _, tc := range cases {
		tc := tc
		t.Run(tc.name+" gets 401, not a redirect", func(t *testing.T) {
			res := send(t, request{path: "/admin/events", header: tc.header})
			checkWant(t, res, want{status: 401, challenge: noToken(realm)})
		})
	}

	t.Run("good token streams events before the response ends", func(t *testing.T) {
		// The backend sends three events, then holds the stream for 20 s: seeing
		// them within 5 s proves each was flushed through the middleware.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet,
			env.traefik.URL+"/admin/events?n=2&hold=20s", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = hostApp
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Authorization", "Bearer "+token(t, nil, goodClaims()))

		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200 (WWW-Authenticate %q)", resp.StatusCode,
				resp.Header.Get("WWW-Authenticate"))
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Errorf("Content-Type %q", ct)
		}

		events := readEvents(t, bufio.NewReader(resp.Body), 3)
		if len(events) != 3 {
			t.Fatalf("got %d events before the deadline, want 3: %q", len(events), events)
		}
		var e realparts.Echo
		if err := json.Unmarshal([]byte(events[0]), &e); err != nil {
			t.Fatalf("first event is not the echo: %q", events[0])
		}
		checkUpstream(t, result{echo: &e}, map[string]string{"X-Stepup-Subject": "alice"})
		if events[1] != "1" || events[2] != "2" {
			t.Errorf("ticks %q, want 1 and 2", events[1:])
		}
	})
}

// readEvents returns the data of up to n events, stopping early on error.
func readEvents(t *testing.T, r *bufio.Reader, n int) []string {
	t.Helper()

	var events []string
	for len(events) < n {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Logf("stream ended: %v", err)
			return events
		}
		if data, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "data: "); ok {
			events = append(events, data)
		}
	}

	return events
}
