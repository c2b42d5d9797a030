// Suggest choices while a manager types in a field marked data-suggest="<url>": the server
// answers with up to 20 matches as [{value, label}], shown in the field's <datalist>. Without
// JavaScript the field still takes a number, an exact name or (for people) an email address,
// which the server looks up when the form is posted.
(function () {
  "use strict";
  function lookUp(input, list) {
    var url = input.dataset.suggest + "?q=" + encodeURIComponent(input.value);
    // data-suggest-for="<id>": the other field's value narrows the suggestions.
    var other = input.dataset.suggestFor && document.getElementById(input.dataset.suggestFor);
    if (other && other.value) { url += "&for=" + encodeURIComponent(other.value); }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : []; })
      .then(function (found) {
        list.replaceChildren.apply(list, found.map(function (item) {
          var option = document.createElement("option");
          option.value = item.value;
          option.textContent = item.label;
          return option;
        }));
      })
      .catch(function () { /* suggestions are a convenience; typing still works */ });
  }
  function attach(input) {
    var list = document.getElementById(input.getAttribute("list"));
    if (!list) { return; }
    var timer = null;
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { lookUp(input, list); }, 200);
    });
    // On a slow connection the manager may type before this script arrives: suggest for that too.
    if (input.value && document.activeElement === input) { lookUp(input, list); }
  }
  document.querySelectorAll("input[data-suggest]").forEach(attach);
})();
