#!/bin/sh
# Renders alertmanager.yml with the webhook URLs from the environment, then execs Alertmanager
# (the entrypoint of the alertmanager service in docker-compose.yml).
#
#   ALERT_WEBHOOK_URL_PAGE     receiver of severity=page alerts
#   ALERT_WEBHOOK_URL_WARNING  receiver of severity=warning alerts (default: the page URL)
#
# Unset, the placeholder URLs stay (http://alert-webhook.invalid/...): Alertmanager runs, and
# logs that it cannot deliver.
#
#   render-config.sh [--render-only] [alertmanager flags...]
# --render-only prints the rendered config to stdout instead of starting Alertmanager.
set -eu

SRC=${ALERTMANAGER_CONFIG_TEMPLATE:-/etc/alertmanager/alertmanager.yml}
OUT=${ALERTMANAGER_CONFIG_RENDERED:-/tmp/alertmanager.yml}
PAGE_PLACEHOLDER='http://alert-webhook.invalid/breakerbox/page'
WARNING_PLACEHOLDER='http://alert-webhook.invalid/breakerbox/warning'

page=${ALERT_WEBHOOK_URL_PAGE:-}
warning=${ALERT_WEBHOOK_URL_WARNING:-$page}

check_url() {
  # $1 variable name, $2 value. http(s) only; no quotes, spaces or backslashes, so the value
  # is safe inside the single-quoted YAML string and the sed replacement.
  case $2 in
    http://* | https://*) ;;
    *)
      echo "render-config.sh: $1 must be an http:// or https:// URL, got '$2'" >&2
      exit 64
      ;;
  esac
  case $2 in
    *[\'\"\\\ \	]*)
      echo "render-config.sh: $1 must not contain quotes, backslashes or whitespace" >&2
      exit 64
      ;;
  esac
}

# Escapes & and | (sed replacement specials with | as delimiter).
sed_escape() { printf '%s' "$1" | sed -e 's/[&|]/\\&/g'; }

script=''
if [ -n "$page" ]; then
  check_url ALERT_WEBHOOK_URL_PAGE "$page"
  script="s|$PAGE_PLACEHOLDER|$(sed_escape "$page")|g;"
else
  echo "render-config.sh: ALERT_WEBHOOK_URL_PAGE is not set; pages go to $PAGE_PLACEHOLDER" >&2
fi
if [ -n "$warning" ]; then
  check_url ALERT_WEBHOOK_URL_WARNING "$warning"
  script="$script s|$WARNING_PLACEHOLDER|$(sed_escape "$warning")|g;"
fi

render() {
  if [ -n "$script" ]; then sed -e "$script" "$SRC"; else cat "$SRC"; fi
}

if [ "${1:-}" = '--render-only' ]; then
  render
  exit 0
fi

render >"$OUT"
exec /bin/alertmanager --config.file="$OUT" "$@"
