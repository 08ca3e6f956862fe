// Loaded after require.js and before the widget manager on pages that show saved ipywidgets.
// The manager (scripts/vendor_js.sh copies it to _static/js/html-manager/) finds its font files
// relative to its require.js module path; without this mapping that path is the page's folder.
require.config({
  paths: {
    "@jupyter-widgets/html-manager/dist":
      document.documentElement.dataset.content_root + "_static/js/html-manager",
  },
});
