// Suggest slots while a manager types in a field marked data-slot-search="<url>": the server
// answers with up to 20 matching slots, shown in the field's <datalist>. Without JavaScript the
// field still takes a slot number or exact name.
(function () {
  "use strict";
  function attach(input) {
    var list = document.getElementById(input.getAttribute("list"));
    if (!list) { return; }
    var timer = null;
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        var url = input.dataset.slotSearch + "?q=" + encodeURIComponent(input.value);
        fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
          .then(function (response) { return response.ok ? response.json() : []; })
          .then(function (slots) {
            list.replaceChildren.apply(list, slots.map(function (slot) {
              var option = document.createElement("option");
              option.value = slot.value;
              option.textContent = slot.label;
              return option;
            }));
          })
          .catch(function () { /* suggestions are a convenience; typing still works */ });
      }, 200);
    });
  }
  document.querySelectorAll("input[data-slot-search]").forEach(attach);
})();
