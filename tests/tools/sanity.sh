#!/usr/bin/env bash
# make sanity: every ansible-test sanity test there is for a collection, on a copy of the collection, offline.
# ansible-test builds a venv per test (validate-modules, pylint, pep8, import, yamllint, ...) and bootstraps pip
# in it with get-pip.py from a host this machine cannot reach. tests/tools/get_pip.py does the same from pip's
# wheel, downloaded here from the package index, and sits where ansible-test caches its bootstrap script; the
# tests' own packages come from the package index too. Then ansible-doc reads every plugin and role.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/ansible_collections/lastwords/panic
mkdir -p "$dest"
git ls-files -co --exclude-standard -z | xargs -0 tar -cf - | tar -xf - -C "$dest"
(cd "$dest" && git init -q && git add -A)

# the pip version ansible-test bootstraps (ansible_test/_internal/python_requirements.py)
pip_version=$(python3 -c 'import ansible_test, pathlib, re; src = (pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text(); print(re.search(r"pip=.([0-9.]+).", src).group(1))')
cache=$HOME/.ansible/test/cache
mkdir -p "$cache"
if ! ls "$cache"/pip-"$pip_version"-*.whl >/dev/null 2>&1; then
  python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: "pip==$pip_version" -d "$cache" \
    2> >(grep -v "is ignored: it is neither" >&2)
fi
cp tests/tools/get_pip.py "$cache/get_pip_${pip_version//./_}.py"

python=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
(cd "$dest" && ansible-test sanity --venv --requirements --python "$python" --color no 2>&1 \
   | grep -v -e 'locale' -e 'Reviewing previous' -e 'is ignored: it is neither' -e '^Looking in' -e '^Collecting ' \
             -e '^  Downloading' -e '━' -e '^Installing collected' -e '^Successfully installed' -e '^Using cached pip')
ran=$(cd "$dest" && ansible-test sanity --list-tests --python "$python" 2>/dev/null | wc -l)

export ANSIBLE_COLLECTIONS_PATH=$tmp
n=0
for m in plugins/modules/*.py; do
  ansible-doc -t module "lastwords.panic.$(basename "$m" .py)" >/dev/null; n=$((n + 1))
done
for f in plugins/filter/*.yml; do
  ansible-doc -t filter "lastwords.panic.$(basename "$f" .yml)" >/dev/null; n=$((n + 1))
done
for f in plugins/test/*.yml; do
  ansible-doc -t test "lastwords.panic.$(basename "$f" .yml)" >/dev/null; n=$((n + 1))
done
for r in roles/*/; do
  ansible-doc -t role "lastwords.panic.$(basename "$r")" >/dev/null; n=$((n + 1))
done
echo "sanity: ansible-test sanity passed, all $ran tests; ansible-doc read $n plugins and roles"
