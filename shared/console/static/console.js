// phiguard console: the few things a browser must do itself. Nothing here stores a key: no
// cookie, no web storage, no network request. A private key is only copied to
// the clipboard or written to a file the person downloads.
(function () {
  "use strict";

  function say(el, text) {
    var status = el && document.getElementById(el.getAttribute("data-status"));
    if (status) { status.textContent = text; }
  }

  // Copy: the text of the element named by data-copy goes to the clipboard.
  function copy(button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) { return; }
    var text = source.value !== undefined ? source.value : source.textContent;
    var done = function () { say(button, "Copied to the clipboard."); };
    var fallback = function () {
      source.focus();
      source.select();
      try { document.execCommand("copy"); done(); } catch (e) { say(button, "Select the text and copy it with your keyboard."); }
      button.focus();
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, fallback);
    } else {
      fallback();
    }
  }

  // Download: the text of the element named by data-download becomes a file.
  function download(button) {
    var source = document.getElementById(button.getAttribute("data-download"));
    if (!source) { return; }
    var blob = new Blob([source.value], { type: "application/x-pem-file" });
    var url = URL.createObjectURL(blob);
    var a = document.createElement("a");
    a.href = url;
    a.download = button.getAttribute("data-filename") || "private-key.pem";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
    say(button, "Downloaded " + a.download + ".");
  }

  // Save stays disabled until "I have stored the private key" is ticked.
  function wireConfirm() {
    document.querySelectorAll("[data-enables]").forEach(function (box) {
      var target = document.getElementById(box.getAttribute("data-enables"));
      if (!target) { return; }
      var sync = function () { target.disabled = !box.checked; };
      box.addEventListener("change", sync);
      sync();
    });
  }

  // Fuzzy filter of the Fields list as one types: a field stays when the query is a substring
  // of its path, or when Sørensen–Dice over character bigrams of the query and any segment of
  // the path exceeds 0.5 (the server's search uses the same rule). Selected fields always stay.
  function bigrams(s) {
    var out = [];
    for (var i = 0; i + 1 < s.length; i++) { out.push(s.substr(i, 2)); }
    return out;
  }
  function dice(a, b) {
    if (a === b) { return 1; }
    var x = bigrams(a), y = bigrams(b);
    if (!x.length || !y.length) { return 0; }
    var pool = y.slice(), common = 0;
    x.forEach(function (g) { var i = pool.indexOf(g); if (i >= 0) { common++; pool.splice(i, 1); } });
    return 2 * common / (x.length + y.length);
  }
  function compact(s) { return s.toLowerCase().replace(/[^a-z0-9]/g, ""); }
  function fuzzy(query, path) {
    var q = compact(query);
    if (!q) { return true; }
    if (compact(path).indexOf(q) >= 0) { return true; }
    return path.split(/[.\[\]]+/).some(function (seg) { return dice(q, compact(seg)) > 0.5; });
  }
  function wireFilter() {
    var input = document.getElementById("field-search");
    var list = document.getElementById("field-list");
    if (!input || !list) { return; }
    var status = document.getElementById("field-search-status");
    var run = function () {
      var shown = 0;
      list.querySelectorAll("li[data-path]").forEach(function (li) {
        var box = li.querySelector("input[type=checkbox]");
        var keep = (box && box.checked) || fuzzy(input.value, li.getAttribute("data-path"));
        li.hidden = !keep;
        if (keep) { shown++; }
      });
      if (status) { status.textContent = shown + " field" + (shown === 1 ? "" : "s") + " shown"; }
    };
    input.addEventListener("input", run);
  }

  function pem(label, buffer) {
    var bytes = new Uint8Array(buffer), bin = "";
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    var b64 = btoa(bin).replace(/(.{64})/g, "$1\n");
    return "-----BEGIN " + label + "-----\n" + b64.replace(/\n$/, "") + "\n-----END " + label + "-----\n";
  }

  // Generate in this browser: WebCrypto makes the key pair here; only the public key goes into
  // the upload form, the private key into a panel outside every form.
  function browserGenerate(button) {
    var choice = document.getElementById("browser-alg").value;
    var params = choice === "p256"
      ? { name: "ECDH", namedCurve: "P-256" }
      : { name: "RSA-OAEP", modulusLength: parseInt(choice.split("-")[1], 10), publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" };
    var usages = choice === "p256" ? ["deriveBits"] : ["encrypt", "decrypt"];
    if (!window.crypto || !window.crypto.subtle) { say(button, "This browser has no WebCrypto; generate the key pair elsewhere and upload its public key."); return; }
    say(button, "Generating…");
    window.crypto.subtle.generateKey(params, true, usages).then(function (pair) {
      return Promise.all([
        window.crypto.subtle.exportKey("spki", pair.publicKey),
        window.crypto.subtle.exportKey("pkcs8", pair.privateKey)
      ]);
    }).then(function (keys) {
      document.getElementById("publicKey").value = pem("PUBLIC KEY", keys[0]);
      document.getElementById("browser-private").value = pem("PRIVATE KEY", keys[1]);
      document.getElementById("browser-panel").hidden = false;
      say(button, "Key pair generated in this browser. Store the private key, then upload the public key.");
      document.getElementById("browser-private").focus();
    }, function (e) { say(button, "The browser could not generate the key pair: " + e.name); });
  }

  document.addEventListener("click", function (ev) {
    var t = ev.target.closest ? ev.target.closest("button") : null;
    if (!t) { return; }
    if (t.hasAttribute("data-copy")) { ev.preventDefault(); copy(t); }
    else if (t.hasAttribute("data-download")) { ev.preventDefault(); download(t); }
    else if (t.id === "browser-generate") { ev.preventDefault(); browserGenerate(t); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    wireConfirm();
    wireFilter();
    document.querySelectorAll("[data-js-only]").forEach(function (el) { el.hidden = false; });
  });
}());
