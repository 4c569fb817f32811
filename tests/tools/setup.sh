#!/usr/bin/env bash
# make setup: install what is missing, fast when everything is there.
#  - Debian packages (QEMU, mmdebstrap, ... ) through apt-get, named when one cannot be installed;
#  - .venv with the pinned Python tools of requirements-dev.txt (reinstalled when that file changes);
#  - the checkout made importable as .collections/ansible_collections/lastwords/panic.
set -euo pipefail
cd "$(dirname "$0")/../.."

APT_PACKAGES=(
  qemu-system-x86 qemu-utils ipxe-qemu seabios   # the VM lab
  mmdebstrap fdisk e2fsprogs dosfstools ovmf       # image builds (ovmf, dosfstools: the UEFI image)
  openssh-client python3-venv                      # reaching the VMs, the venv
  rsyslog rsyslog-relp logrotate socat iperf3      # receiver tests and benchmark (RELP forwarding), soak
  netcat-openbsd
  shellcheck                                       # ansible-test sanity
  crash                                            # collect's crash_batch on the controller (experiment)
  make git
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install ${missing[*]} (run: sudo apt-get install ${missing[*]})" >&2; exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || echo "setup: apt-get update failed; trying the package lists we have" >&2
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/lastwords-apt.log 2>&1; then
    for p in "${missing[@]}"; do
      apt-get install -y -q --no-install-recommends "$p" >/dev/null 2>&1 ||
        echo "setup: cannot install Debian package '$p' (apt-get install $p failed; see /tmp/lastwords-apt.log)" >&2
    done
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.lastwords-requirements
if ! cmp -s requirements-dev.txt "$stamp"; then
  echo "setup: installing pinned Python tools (requirements-dev.txt)"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  cp requirements-dev.txt "$stamp"
fi

mkdir -p .collections/ansible_collections/lastwords
ln -sfn ../../.. .collections/ansible_collections/lastwords/panic
echo "setup: ready (.venv, Debian packages, collection importable as lastwords.panic)"
