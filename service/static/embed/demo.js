// The demo host page (/embed/demo): hands <rebate-card> a token typed into the form or given
// in the URL's fragment (#token=…, which browsers never send to a server). An external
// script, so that the page's Content-Security-Policy allows no inline script.
(function () {
  "use strict";
  var form = document.getElementById("settings");
  var card = document.getElementById("card");
  var note = document.getElementById("token-note");
  var token = null;

  function say(text) {
    note.textContent = text;
  }

  // #token=… (optionally &dealer=…&program=…&lang=…): read once, then taken out of the
  // address bar and the history entry.
  function readFragment() {
    var params = new URLSearchParams(window.location.hash.slice(1));
    var given = params.get("token");
    ["dealer", "program", "lang"].forEach(function (name) {
      if (params.get(name)) {
        form.elements[name].value = params.get(name);
      }
    });
    if (window.location.hash) {
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    if (given) {
      token = given.trim();
      say("Token taken from the URL's fragment (now removed from the address bar).");
    }
  }

  // ?dealer=…&program=…&lang=… (not secret) preset the form.
  var query = new URLSearchParams(window.location.search);
  ["dealer", "program", "lang"].forEach(function (name) {
    if (query.get(name)) {
      form.elements[name].value = query.get(name);
    }
  });

  function show() {
    card.setAttribute("dealer", form.elements.dealer.value.trim());
    card.setAttribute("program", form.elements.program.value);
    card.setAttribute("lang", form.elements.lang.value);
    card.getToken = function () {
      return token;
    };
    if (!token) {
      say("No token yet: paste one above (see step 2).");
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var typed = form.elements.token.value.trim();
    if (typed) {
      token = typed;
      say("Token taken from the field.");
    }
    show();
  });
  form.elements.lang.addEventListener("change", function () {
    card.setAttribute("lang", form.elements.lang.value);
  });
  window.addEventListener("hashchange", function () {
    readFragment();
    show();
  });
  readFragment();
  show();
}());
