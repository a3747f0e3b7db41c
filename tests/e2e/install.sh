#!/usr/bin/env bash
# Installs what the end-to-end harness needs on a fresh Debian machine (as root), idempotently:
# Postfix, swaks, rsyslog with omelasticsearch, and an unpacked Exim 4 (exim4-daemon-light
# conflicts with postfix as a package, so it is only extracted, never installed).
set -euo pipefail
E2E_ROOT=${E2E_ROOT:-/var/tmp/mailtrace-e2e}
EXIM_ROOT=$E2E_ROOT/exim-root
export DEBIAN_FRONTEND=noninteractive

need=()
command -v postfix >/dev/null || need+=(postfix)
command -v swaks >/dev/null || need+=(swaks)
command -v rsyslogd >/dev/null || need+=(rsyslog)
[ -e /usr/lib/x86_64-linux-gnu/rsyslog/omelasticsearch.so ] || need+=(rsyslog-elasticsearch)
dpkg -s libidn12 >/dev/null 2>&1 || need+=(libidn12)
command -v ss >/dev/null || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  # The packages' own services must not start: the harness runs its own instances.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi
if [ ! -x "$EXIM_ROOT/usr/sbin/exim4" ]; then
  mkdir -p "$E2E_ROOT/debs" "$EXIM_ROOT"
  (cd "$E2E_ROOT/debs" && apt-get download -qq exim4-daemon-light >/dev/null 2>&1 || {
     apt-get update -qq && apt-get download -qq exim4-daemon-light; })
  for f in "$E2E_ROOT"/debs/exim4-daemon-light*.deb; do dpkg -x "$f" "$EXIM_ROOT"; done
fi
# The Exim binary has its run-time user compiled in; exim4-base would create it.
getent passwd Debian-exim >/dev/null || useradd --system --user-group --no-create-home \
  --home-dir /nonexistent --shell /usr/sbin/nologin Debian-exim
postconf -d mail_version
"$EXIM_ROOT/usr/sbin/exim4" -bV 2>/dev/null | head -1 || true
