// The API reference (ReDoc) loads nothing from outside Roster. ReDoc's sidebar footer shows
// Redocly's logo from its CDN; that one image is left out (never fetched, kept hidden), the
// footer's text link stays. Loaded before ReDoc's bundle.
(function () {
  "use strict";
  const CDN = "https://cdn.redoc.ly/";
  const fromCdn = (img, name, value) =>
    img instanceof HTMLImageElement && name === "src" && String(value).startsWith(CDN);

  const setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (fromCdn(this, name, value)) {
      this.hidden = true;
      return;
    }
    return setAttribute.call(this, name, value);
  };
  const src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    ...src,
    set(value) {
      if (fromCdn(this, "src", value)) {
        this.hidden = true;
        return;
      }
      src.set.call(this, value);
    },
  });
})();
