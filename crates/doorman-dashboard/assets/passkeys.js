// doorman dashboard: passkeys (WebAuthn), no dependencies, no inline script.
// - A button [data-passkey-sign-in] signs in with a discoverable passkey:
//   options from /app/passkeys/sign-in/options, navigator.credentials.get,
//   the answer to /app/passkeys/sign-in, then the page the server names.
// - A form [data-passkey-register] adds a passkey under the name typed:
//   options from /app/passkeys/register/options,
//   navigator.credentials.create, the answer to /app/passkeys/register,
//   then the page in data-then.
// The server keeps each ceremony's challenge under an HttpOnly cookie; this
// script only converts between JSON (base64url) and the ArrayBuffers the
// WebAuthn API takes. #passkey-status says what happened (data-state:
// working, ok, error).
(function () {
  "use strict";
  var status = document.getElementById("passkey-status");

  function say(state, text) {
    if (!status) return;
    status.setAttribute("data-state", state);
    status.textContent = text;
  }

  function toBuffer(b64url) {
    var b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (json) {
        if (!r.ok) throw new Error(json.error && json.error.message ? json.error.message : "HTTP " + r.status);
        return json;
      });
    });
  }

  function ids(list) {
    (list || []).forEach(function (c) { c.id = toBuffer(c.id); });
  }

  function creationOptions(json) {
    var pk = json.publicKey;
    pk.challenge = toBuffer(pk.challenge);
    pk.user.id = toBuffer(pk.user.id);
    ids(pk.excludeCredentials);
    return { publicKey: pk };
  }

  function requestOptions(json) {
    var pk = json.publicKey;
    pk.challenge = toBuffer(pk.challenge);
    ids(pk.allowCredentials);
    return { publicKey: pk };
  }

  function extensions(credential) {
    return credential.getClientExtensionResults ? credential.getClientExtensionResults() : {};
  }

  function registration(credential) {
    var r = credential.response;
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: {
        attestationObject: toBase64url(r.attestationObject),
        clientDataJSON: toBase64url(r.clientDataJSON),
        transports: r.getTransports ? r.getTransports() : undefined
      },
      extensions: extensions(credential)
    };
  }

  function assertion(credential) {
    var r = credential.response;
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: {
        authenticatorData: toBase64url(r.authenticatorData),
        clientDataJSON: toBase64url(r.clientDataJSON),
        signature: toBase64url(r.signature),
        userHandle: r.userHandle ? toBase64url(r.userHandle) : null
      },
      extensions: extensions(credential)
    };
  }

  // A refusal by the person (cancel, timeout) reads better than the
  // browser's own wording.
  function failed(e) {
    var text = e && e.name === "NotAllowedError" ? "Cancelled or timed out. Try again." : (e && e.message) || String(e);
    say("error", text);
  }

  var supported = !!(window.PublicKeyCredential && navigator.credentials);

  document.querySelectorAll("[data-passkey-sign-in]").forEach(function (button) {
    if (!supported) {
      button.disabled = true;
      say("error", "This browser cannot use passkeys: sign in with your API token.");
      return;
    }
    button.addEventListener("click", function () {
      button.disabled = true;
      say("working", "Waiting for your passkey…");
      post("/app/passkeys/sign-in/options")
        .then(function (json) { return navigator.credentials.get(requestOptions(json)); })
        .then(function (credential) { return post("/app/passkeys/sign-in", { credential: assertion(credential) }); })
        .then(function (json) {
          say("ok", "Signed in.");
          window.location.assign(json.redirect || "/app/");
        })
        .catch(failed)
        .then(function () { button.disabled = false; });
    });
  });

  document.querySelectorAll("form[data-passkey-register]").forEach(function (form) {
    var button = form.querySelector("button[type=submit]");
    if (!supported) {
      if (button) button.disabled = true;
      say("error", "This browser cannot create passkeys.");
      return;
    }
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var name = form.elements.name.value;
      if (button) button.disabled = true;
      say("working", "Follow your browser's prompt to create the passkey…");
      post("/app/passkeys/register/options")
        .then(function (json) { return navigator.credentials.create(creationOptions(json)); })
        .then(function (credential) {
          return post("/app/passkeys/register", { name: name, credential: registration(credential) });
        })
        .then(function (json) {
          say("ok", "Passkey “" + json.passkey.name + "” added.");
          var then = form.getAttribute("data-then");
          if (then) window.location.assign(then);
        })
        .catch(failed)
        .then(function () { if (button) button.disabled = false; });
    });
  });
})();
