// Loaded after the local vega / vega-lite / vega-embed builds (html_js_files in _config.yml).
// Altair's HTML output skips its CDN loader for each library whose version is recorded here, so the
// book's charts render offline from _static/vega/. Values must equal altair's alt.VEGA_VERSION,
// alt.VEGALITE_VERSION and alt.VEGAEMBED_VERSION (tests/test_packaging.py checks it).
window.VEGA_DEBUG = { vega_version: "6", vegalite_version: "6.4.1", vegaembed_version: "7" };
