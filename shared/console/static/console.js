// What every console page shares: the CSRF token for scripts that send requests.
"use strict";
window.assay = {
  csrf: function () {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  },
};
