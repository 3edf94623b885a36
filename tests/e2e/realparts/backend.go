package realparts

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// BackendHeader is set on every answer of the backend, so a test can tell a
// response that reached the backend from one Traefik or the plugin produced.
const BackendHeader = "X-Realparts-Backend"

// Echo describes a request as the backend saw it. Plain requests get it as
// their JSON body; a WebSocket gets it as its first text message; a
// server-sent event stream as the data of its first event.
type Echo struct {
	Method     string      `json:"method"`
	Path       string      `json:"path"`
	RawPath    string      `json:"rawPath,omitempty"`
	RequestURI string      `json:"requestURI"`
	Host       string      `json:"host"`
	Header     http.Header `json:"header"`
	Body       string      `json:"body,omitempty"`
}

// Backend is an HTTP server on 127.0.0.1 that echoes requests:
//   - a WebSocket upgrade is accepted; the server sends the Echo of the
//     handshake, then echoes every message back;
//   - a request accepting text/event-stream, or whose path ends in /events,
//     gets a stream: the Echo as the first event, then "tick" events
//     (query n, default 1), then it holds the stream open (query hold, a
//     duration, default 5s) before a final "end" event;
//   - anything else gets 200 and its Echo as JSON.
type Backend struct {
	// URL is the server's base URL, http://127.0.0.1:<port>.
	URL string

	srv  *httptest.Server
	done chan struct{}
	once sync.Once

	mu   sync.Mutex
	seen []Echo
}

// NewBackend starts a backend.
func NewBackend() *Backend {
	b := &Backend{done: make(chan struct{})}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serveHTTP))
	b.URL = b.srv.URL

	return b
}

// NewBackendT starts a backend closed at the test's cleanup.
func NewBackendT(t TB) *Backend {
	t.Helper()
	b := NewBackend()
	t.Cleanup(b.Close)

	return b
}

// Close ends open streams and stops the server.
func (b *Backend) Close() {
	b.once.Do(func() {
		close(b.done)
		b.srv.CloseClientConnections()
		b.srv.Close()
	})
}

// Requests returns every request seen so far, oldest first.
func (b *Backend) Requests() []Echo {
	b.mu.Lock()
	defer b.mu.Unlock()

	out := make([]Echo, len(b.seen))
	copy(out, b.seen)

	return out
}

// DecodeEcho reads an Echo from a backend response body.
func DecodeEcho(r io.Reader) (Echo, error) {
	var e Echo
	if err := json.NewDecoder(r).Decode(&e); err != nil {
		return Echo{}, fmt.Errorf("decoding backend echo: %w", err)
	}

	return e, nil
}

// serveHTTP dispatches on the kind of request.
func (b *Backend) serveHTTP(w http.ResponseWriter, r *http.Request) {
	e := b.record(r)
	w.Header().Set(BackendHeader, "echo")

	switch {
	case websocket.IsWebSocketUpgrade(r):
		b.serveWebSocket(w, r, e)
	case strings.Contains(r.Header.Get("Accept"), "text/event-stream") ||
		strings.HasSuffix(r.URL.Path, "/events"):
		b.serveEvents(w, r, e)
	default:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(e)
	}
}

// record builds the request's Echo and remembers it.
func (b *Backend) record(r *http.Request) Echo {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	e := Echo{
		Method:     r.Method,
		Path:       r.URL.Path,
		RawPath:    r.URL.RawPath,
		RequestURI: r.RequestURI,
		Host:       r.Host,
		Header:     r.Header.Clone(),
		Body:       string(body),
	}

	b.mu.Lock()
	b.seen = append(b.seen, e)
	b.mu.Unlock()

	return e
}

// upgrader accepts any origin: the backend only ever runs on loopback.
var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// serveWebSocket sends the handshake's Echo, then echoes messages until the
// peer closes or the backend stops.
func (b *Backend) serveWebSocket(w http.ResponseWriter, r *http.Request, e Echo) {
	h := http.Header{}
	h.Set(BackendHeader, "echo")
	conn, err := upgrader.Upgrade(w, r, h)
	if err != nil {
		return // Upgrade has answered the client already.
	}
	defer conn.Close()

	go func() {
		<-b.done
		conn.Close()
	}()

	if err := conn.WriteJSON(e); err != nil {
		return
	}
	for {
		kind, msg, err := conn.ReadMessage()
		if err != nil {
			return
		}
		if err := conn.WriteMessage(kind, msg); err != nil {
			return
		}
	}
}

// serveEvents streams server-sent events, flushing each one.
func (b *Backend) serveEvents(w http.ResponseWriter, r *http.Request, e Echo) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	if n <= 0 {
		n = 1
	}
	hold, err := time.ParseDuration(r.URL.Query().Get("hold"))
	if err != nil {
		hold = 5 * time.Second
	}

	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")

	data, _ := json.Marshal(e)
	fmt.Fprintf(w, "event: echo\ndata: %s\n\n", data)
	flusher.Flush()
	for i := 1; i <= n; i++ {
		fmt.Fprintf(w, "event: tick\ndata: %d\n\n", i)
		flusher.Flush()
	}

	select {
	case <-r.Context().Done():
		return
	case <-b.done:
		return
	case <-time.After(hold):
	}
	fmt.Fprint(w, "event: end\ndata: bye\n\n")
	flusher.Flush()
}
