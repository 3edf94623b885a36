// HTML pages of the test IdP: plain, accessible, inline CSS only.
// Element ids are a contract with the browser tests (see README.md).

/** esc escapes text for HTML element content and attribute values. */
export function esc(value) {
  return String(value === undefined || value === null ? '' : value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const STYLE = `
  body { font-family: system-ui, sans-serif; background: #f4f5f7; color: #1b1d21; margin: 0; }
  main { max-width: 26rem; margin: 4rem auto; background: #fff; padding: 2rem;
         border-radius: .5rem; box-shadow: 0 1px 4px rgba(0,0,0,.15); }
  h1 { font-size: 1.5rem; margin-top: 0; }
  label { display: block; margin-top: 1rem; font-weight: 600; }
  input[type=text], input[type=password] { width: 100%; box-sizing: border-box;
         padding: .5rem; font-size: 1rem; margin-top: .25rem; }
  button { margin-top: 1.5rem; padding: .6rem 1.2rem; font-size: 1rem; cursor: pointer; }
  .error { color: #a4000f; background: #fde8ea; padding: .5rem; border-radius: .25rem; }
  .note { font-size: .9rem; color: #4a4f57; border-left: 3px solid #c49000; padding-left: .5rem; }
  .meta { font-size: .85rem; color: #4a4f57; }
`;

/** page wraps a body in the common document. */
export function page(title, body) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

function errorBlock(message) {
  return message ? `<p id="error" class="error" role="alert">${esc(message)}</p>` : '';
}

/** loginPage asks for username and password. */
export function loginPage({ uid, clientId, requested, error, username }) {
  const asked = requested && requested.length ? `<p class="meta" id="requested-acr">Requested assurance: ${esc(requested.join(' '))}</p>` : '';
  return page('Sign in', `<h1 id="title">Sign in</h1>
<p class="meta">to continue to <strong id="client-id">${esc(clientId)}</strong></p>
${asked}
${errorBlock(error)}
<form id="login-form" method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
  <label for="username">Username</label>
  <input type="text" id="username" name="username" value="${esc(username)}" required autofocus
         autocapitalize="none" spellcheck="false">
  <label for="password">Password</label>
  <input type="password" id="password" name="password" required>
  <button type="submit" id="login-submit">Sign in</button>
</form>
<p class="note">Development identity provider. Users: alice / alice-password, bob / bob-password.</p>`);
}

/** otpPage asks for the second factor. */
export function otpPage({
  uid, accountId, error, otpIsDefault, totp,
}) {
  const code = otpIsDefault ? ' (by default <code>123456</code>)' : '';
  const alsoTotp = totp ? ' A real TOTP for <code>IDP_TOTP_SECRET</code> is accepted too.' : '';
  return page('Second factor required', `<h1 id="title">Second factor required</h1>
<p>Signed in as <strong id="account">${esc(accountId)}</strong>. This resource needs a stronger sign-in:
enter your one-time code.</p>
${errorBlock(error)}
<form id="otp-form" method="post" action="/interaction/${esc(uid)}/otp" autocomplete="off">
  <label for="otp">One-time code</label>
  <input type="text" id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code"
         pattern="[0-9]*" required autofocus>
  <button type="submit" id="otp-submit">Verify</button>
</form>
<p class="note">Development stand-in for a TOTP: this IdP accepts one fixed code, set by
<code>IDP_OTP_CODE</code>${code}.${alsoTotp} Never use it outside tests and demos.</p>`);
}

/** logoutPage confirms sign-out; it submits itself when autoSubmit is set. */
export function logoutPage({ form, autoSubmit }) {
  const script = autoSubmit
    ? '<script>document.getElementById("logout-submit").click();</script>'
    : '';
  return page('Sign out', `<h1 id="title">Sign out</h1>
<p>Do you want to sign out of the development identity provider?</p>
${form}
<button type="submit" id="logout-submit" form="op.logoutForm" name="logout" value="yes" autofocus>Yes, sign me out</button>
${script}`);
}

/** loggedOutPage is shown when no post_logout_redirect_uri applies. */
export function loggedOutPage({ clientId }) {
  const to = clientId ? ` from <strong>${esc(clientId)}</strong>` : '';
  return page('Signed out', `<h1 id="title">Signed out</h1>
<p id="signed-out">You are signed out${to}.</p>`);
}

/** errorPage renders an OAuth error that cannot go back to the client. */
export function errorPage({ error, description }) {
  return page('Error', `<h1 id="title">Error</h1>
<p class="error" id="error" role="alert"><code id="error-code">${esc(error)}</code>: ${esc(description)}</p>`);
}
