// Passkeys (WebAuthn): runs the ceremony whose options the page carries,
// puts the browser's answer in the form and sends it. No other script runs
// on Gatehouse's pages; this one is served from the same origin.
(function () {
  "use strict";
  var data = document.getElementById("passkey-options");
  var form = document.getElementById("passkey-form");
  var status = document.getElementById("passkey-status");
  var retry = document.getElementById("passkey-retry");
  if (!data || !form) return;
  var options = JSON.parse(data.textContent).publicKey;

  function bytes(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    var binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    var out = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out.buffer;
  }
  function text(buffer) {
    if (!buffer) return undefined;
    var view = new Uint8Array(buffer), binary = "";
    for (var i = 0; i < view.length; i++) binary += String.fromCharCode(view[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function descriptors(list) {
    return (list || []).map(function (d) { return Object.assign({}, d, { id: bytes(d.id) }); });
  }
  // The credential as WebAuthn Level 3's toJSON() writes it (built by hand for older browsers).
  function serialise(credential) {
    var r = credential.response, response = { clientDataJSON: text(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = text(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = text(r.authenticatorData);
      response.signature = text(r.signature);
      if (r.userHandle) response.userHandle = text(r.userHandle);
    }
    return JSON.stringify({
      id: credential.id,
      rawId: text(credential.rawId),
      type: credential.type,
      response: response,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
    });
  }
  function run() {
    retry.disabled = true;
    status.textContent = form.dataset.waiting;
    var publicKey = Object.assign({}, options, { challenge: bytes(options.challenge) });
    var ceremony;
    if (form.dataset.ceremony === "create") {
      publicKey.user = Object.assign({}, options.user, { id: bytes(options.user.id) });
      publicKey.excludeCredentials = descriptors(options.excludeCredentials);
      ceremony = navigator.credentials.create({ publicKey: publicKey });
    } else {
      publicKey.allowCredentials = descriptors(options.allowCredentials);
      ceremony = navigator.credentials.get({ publicKey: publicKey });
    }
    ceremony.then(function (credential) {
      form.elements.credential.value = serialise(credential);
      form.submit();
    }, function (error) {
      status.textContent = form.dataset.failed + " (" + error.name + ")";
      retry.disabled = false;
    });
  }
  retry.addEventListener("click", run);
  if (!window.PublicKeyCredential || !navigator.credentials) {
    status.textContent = form.dataset.unsupported;
    return;
  }
  run();
})();
