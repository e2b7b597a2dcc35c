#!/usr/bin/env bash
# Check (and, as root, install) the system programs SiteWatch runs on.
#   scripts/system-deps.sh run    PostgreSQL + PostGIS, Mosquitto
#   scripts/system-deps.sh test   the same, plus GDAL's ogrinfo and Chromium for client tests, and
#                                 Mosquitto's clients for the ingest benchmark
# As root it installs what is missing with apt-get; otherwise it prints the exact command.
set -euo pipefail
mode="${1:-run}"

have_postgis() {
  local bindir ver
  for bindir in /usr/lib/postgresql/*/bin "$(dirname "$(readlink -f "$(command -v initdb || echo /x/x)")")"; do
    [ -x "$bindir/initdb" ] || continue
    ver=$(basename "$(dirname "$bindir")")
    for control in "/usr/share/postgresql/$ver/extension/postgis.control" \
                   "$bindir/../share/postgresql/extension/postgis.control" \
                   "$bindir/../share/extension/postgis.control"; do
      [ -f "$control" ] && return 0
    done
  done
  return 1
}

missing=()
have_postgis || missing+=(postgis)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
# node + npm build the map page's JavaScript (scripts/build-viewer.sh); the page never uses a CDN.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ "$mode" = test ]; then
  command -v ogrinfo >/dev/null 2>&1 || missing+=(gdal-bin)
  # mosquitto_sub: bench/ingest.py measures the broker's own ceiling with it
  command -v mosquitto_sub >/dev/null 2>&1 || missing+=(mosquitto-clients)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  # a CJK system font, so that the map's Chinese labels render in headless Chromium's screenshots
  fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-wqy-microhei)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

# PostGIS comes as postgresql-NN-postgis-3 for the distribution's default PostgreSQL NN.
pg_version() {
  apt-cache depends postgresql 2>/dev/null | sed -n 's/.*Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -n1
}
packages() {
  local m out=()
  for m in "${missing[@]}"; do
    if [ "$m" = postgis ]; then out+=(postgresql "postgresql-$(pg_version || true)-postgis-3"); else out+=("$m"); fi
  done
  echo "${out[*]}" | sed 's/postgresql--postgis-3/postgresql-15-postgis-3/'
}

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  list=$(packages)
  echo "installing system packages: $list"
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $list >/dev/null
  exit 0
fi

cat >&2 <<MSG
SiteWatch needs system programs that are not installed: ${missing[*]}
Install them (as root) with:

    sudo apt-get update && sudo apt-get install -y $(packages)

or create the conda environment instead:

    conda env create -f environment.yml && conda activate sitewatch

Then run this command again.
MSG
exit 1
