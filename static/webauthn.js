// whistle: the WebAuthn ceremonies of the staff login and account pages, and nothing else.
//
// A form marked data-webauthn="register" or "login" carries the server's options as JSON in
// data-options. On submit this script runs the ceremony, puts the answer (JSON) and the PRF
// output (base64url, a secret: it leaves this page only in the form, to this origin) into the
// form's hidden fields, and sends the form. A cancelled or failed ceremony sends the form
// with outcome=cancelled, so the server answers with a translated message and counts it.
// Reporter pages never load this file.
(function () {
  "use strict";

  function fromB64url(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) {
      b64 += "=";
    }
    var raw = atob(b64);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) {
      out[i] = raw.charCodeAt(i);
    }
    return out.buffer;
  }

  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i += 1) {
      raw += String.fromCharCode(bytes[i]);
    }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      return { type: item.type, id: fromB64url(item.id), transports: item.transports };
    });
  }

  function creationOptions(o) {
    var ext = o.extensions || {};
    var options = {
      rp: o.rp,
      user: { id: fromB64url(o.user.id), name: o.user.name, displayName: o.user.displayName },
      challenge: fromB64url(o.challenge),
      pubKeyCredParams: o.pubKeyCredParams,
      timeout: o.timeout,
      excludeCredentials: descriptors(o.excludeCredentials),
      authenticatorSelection: o.authenticatorSelection,
      attestation: o.attestation,
      extensions: {}
    };
    if (ext.prf && ext.prf.eval) {
      options.extensions.prf = { eval: { first: fromB64url(ext.prf.eval.first) } };
    }
    return options;
  }

  function requestOptions(o) {
    var ext = o.extensions || {};
    var options = {
      challenge: fromB64url(o.challenge),
      timeout: o.timeout,
      rpId: o.rpId,
      allowCredentials: descriptors(o.allowCredentials),
      userVerification: o.userVerification,
      extensions: {}
    };
    if (ext.prf && ext.prf.evalByCredential) {
      var byCredential = {};
      Object.keys(ext.prf.evalByCredential).forEach(function (id) {
        byCredential[id] = { first: fromB64url(ext.prf.evalByCredential[id].first) };
      });
      options.extensions.prf = { evalByCredential: byCredential };
    }
    return options;
  }

  function prfOutput(credential) {
    var results = credential.getClientExtensionResults();
    if (results.prf && results.prf.results && results.prf.results.first) {
      return toB64url(results.prf.results.first);
    }
    return "";
  }

  function attestationJSON(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      response: {
        clientDataJSON: toB64url(response.clientDataJSON),
        attestationObject: toB64url(response.attestationObject),
        transports: response.getTransports ? response.getTransports() : []
      },
      clientExtensionResults: {}
    };
  }

  function assertionJSON(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      response: {
        clientDataJSON: toB64url(response.clientDataJSON),
        authenticatorData: toB64url(response.authenticatorData),
        signature: toB64url(response.signature),
        userHandle: response.userHandle ? toB64url(response.userHandle) : null
      },
      clientExtensionResults: {}
    };
  }

  async function register(o) {
    var credential = await navigator.credentials.create({ publicKey: creationOptions(o) });
    var prf = prfOutput(credential);
    var results = credential.getClientExtensionResults();
    if (!prf && results.prf && results.prf.enabled && o.extensions && o.extensions.prf) {
      // Many keys give PRF outputs only when asked to sign: ask once, for the new key. The
      // server checks nothing here (a wrong output would only lock its owner out).
      var again = await navigator.credentials.get({
        publicKey: {
          challenge: crypto.getRandomValues(new Uint8Array(32)),
          rpId: o.rp.id,
          allowCredentials: [{ type: "public-key", id: credential.rawId }],
          userVerification: "preferred",
          extensions: { prf: { eval: { first: fromB64url(o.extensions.prf.eval.first) } } }
        }
      });
      prf = prfOutput(again);
    }
    return { answer: attestationJSON(credential), prf: prf };
  }

  async function login(o) {
    var credential = await navigator.credentials.get({ publicKey: requestOptions(o) });
    return { answer: assertionJSON(credential), prf: prfOutput(credential) };
  }

  function attach(form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.done) {
        return;
      }
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      if (button) {
        button.disabled = true;
      }
      var finish = function (result) {
        if (result) {
          form.elements.credential.value = JSON.stringify(result.answer);
          form.elements.prf.value = result.prf;
        } else {
          form.elements.outcome.value = "cancelled";
        }
        form.dataset.done = "1";
        form.submit();
      };
      if (!window.PublicKeyCredential || !navigator.credentials) {
        finish(null);
        return;
      }
      var options = JSON.parse(form.dataset.options);
      var ceremony = form.dataset.webauthn === "register" ? register : login;
      ceremony(options).then(finish, function () {
        finish(null);
      });
    });
  }

  document.querySelectorAll("form[data-webauthn]").forEach(attach);
})();
