/*! Nurture web tracking snippet: page views, events, forms and identify. No dependencies. */
(function (w, d) {
  "use strict";
  var queued = (w.nurture && w.nurture.q) || [];
  var ID_KEY = "_nurture_aid";
  var state = { siteKey: null, consent: true, disabled: false, pending: [], endpoint: null };
  var script = d.currentScript || d.querySelector("script[src*='/t/nurture.js']");
  state.endpoint = script ? script.src.replace(/\/t\/nurture\.js.*$/, "/t/collect") : "/t/collect";

  function randomId() {
    var bytes = new Uint8Array(16);
    (w.crypto || w.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function readCookie(name) {
    var match = d.cookie.match(new RegExp("(?:^|; )" + name + "=([A-Za-z0-9_-]+)"));
    return match ? match[1] : null;
  }
  function anonymousId() {
    var id = readCookie(ID_KEY);
    try { id = id || w.localStorage.getItem(ID_KEY); } catch (e) { /* storage blocked */ }
    if (!id) { id = randomId(); }
    try { w.localStorage.setItem(ID_KEY, id); } catch (e) { /* storage blocked */ }
    d.cookie = ID_KEY + "=" + id + "; path=/; max-age=63072000; SameSite=Lax" +
      (w.location.protocol === "https:" ? "; Secure" : "");
    return id;
  }
  function send(hits) {
    if (state.disabled || !state.siteKey) { return; }
    if (!state.consent) { state.pending = state.pending.concat(hits); return; }
    var body = JSON.stringify({ site_key: state.siteKey, anonymous_id: anonymousId(), hits: hits });
    // text/plain keeps the request "simple" (no CORS preflight); the server reads JSON.
    if (w.fetch) {
      w.fetch(state.endpoint, { method: "POST", body: body, keepalive: true, mode: "cors",
        credentials: "omit", headers: { "Content-Type": "text/plain" } })["catch"](function () {});
    } else if (w.navigator.sendBeacon) {
      w.navigator.sendBeacon(state.endpoint, body);
    }
  }
  // A tracked click from an email adds nurture_c: say who arrived, then drop it from the URL.
  function arrivedFromMail() {
    var match = w.location.search.match(/[?&]nurture_c=([A-Za-z0-9_.-]+)/);
    if (!match) { return; }
    send([{ kind: "identify", token: match[1] }]);
    if (w.history && w.history.replaceState) {
      var url = w.location.href.replace(/([?&])nurture_c=[^&#]*&?/, "$1").replace(/[?&](#|$)/, "$1");
      w.history.replaceState(w.history.state, "", url);
    }
  }
  function page() {
    send([{ kind: "page", url: w.location.href, title: d.title, referrer: d.referrer || null }]);
  }
  var SENSITIVE = /pass|pwd|card|cc-|cvc|cvv|iban|ssn|secret|token|mynumber|マイナンバー/i;
  function formHit(form) {
    var fields = {}, email = null;
    Array.prototype.forEach.call(form.elements, function (el) {
      var name = el.name || el.id, type = (el.type || "").toLowerCase();
      if (!name || el.disabled || type === "password" || type === "hidden" || type === "file" ||
          type === "submit" || type === "button" || SENSITIVE.test(name) ||
          SENSITIVE.test(el.autocomplete || "")) { return; }
      if ((type === "checkbox" || type === "radio") && !el.checked) { return; }
      var value = String(el.value || "").slice(0, 500);
      if (!email && (type === "email" || /e-?mail|メール/i.test(name)) && value.indexOf("@") > 0) { email = value; }
      fields[name] = value;
    });
    var hit = { kind: "form", form: form.getAttribute("data-nurture-form") || form.id || form.name || null,
      fields: fields, url: w.location.href };
    if (email) { hit.email = email; }
    return hit;
  }
  function watchForms() {
    d.addEventListener("submit", function (event) {
      var form = event.target;
      if (form && form.hasAttribute && form.hasAttribute("data-nurture-form")) { send([formHit(form)]); }
    }, true);
  }
  var commands = {
    init: function (options) {
      options = options || {};
      state.siteKey = options.siteKey || null;
      state.consent = options.consent !== false;
      var dnt = w.navigator.doNotTrack === "1" || w.doNotTrack === "1" || w.navigator.globalPrivacyControl === true;
      state.disabled = Boolean(options.respectDoNotTrack && dnt);
      arrivedFromMail();
      if (options.autoPage !== false) { page(); }
    },
    page: page,
    track: function (name, properties) { send([{ kind: "event", name: String(name), properties: properties || {} }]); },
    identify: function (email, traits) { send([{ kind: "identify", email: String(email), traits: traits || {} }]); },
    consent: function (granted) {
      state.consent = granted !== false;
      if (state.consent && state.pending.length) { var hits = state.pending; state.pending = []; send(hits); }
      if (!state.consent) { state.pending = []; }
    }
  };
  function run(args) {
    var command = commands[args[0]];
    if (command) { command.apply(null, Array.prototype.slice.call(args, 1)); }
  }
  w.nurture = function () { run(arguments); };
  watchForms();
  for (var i = 0; i < queued.length; i++) { run(queued[i]); }
})(window, document);
