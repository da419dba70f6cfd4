#!/usr/bin/env bash
# Copy the front-end files the console pages load from node_modules (installed by
# scripts/deps-web.sh from package.json + package-lock.json) into the console's static folder.
# The target folder is git-ignored: nothing from npm is committed. ES modules are renamed to
# *.esm.js so that packaging (which takes *.js) and every static server treat them as JavaScript.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=src/hemisphere/console/web/static/vendor
if [ ! -d node_modules ]; then
  echo "node_modules is missing: run scripts/deps-web.sh (npm ci) first" >&2
  exit 1
fi
mkdir -p "$dest"
install -m 0644 node_modules/htmx.org/dist/htmx.min.js "$dest/htmx.min.js"
install -m 0644 node_modules/idiomorph/dist/idiomorph-ext.min.js "$dest/idiomorph-ext.min.js"
install -m 0644 node_modules/@xterm/xterm/lib/xterm.mjs "$dest/xterm.esm.js"
install -m 0644 node_modules/@xterm/xterm/css/xterm.css "$dest/xterm.css"
install -m 0644 node_modules/@xterm/addon-fit/lib/addon-fit.mjs "$dest/addon-fit.esm.js"
echo "==> web assets copied to $dest"
# The interactive API docs (/api/docs) load Swagger UI from here, not from a CDN: air-gapped
# installations have none.
docs=src/hemisphere/webapi/static
mkdir -p "$docs"
install -m 0644 node_modules/swagger-ui-dist/swagger-ui-bundle.js "$docs/swagger-ui-bundle.js"
install -m 0644 node_modules/swagger-ui-dist/swagger-ui.css "$docs/swagger-ui.css"
install -m 0644 node_modules/swagger-ui-dist/favicon-32x32.png "$docs/favicon-32x32.png"
echo "==> API docs assets copied to $docs"
