#!/usr/bin/env bash
# make sanity: ansible-test sanity on a copy of the collection, as far as it runs on this network.
# ansible-test builds a venv per test for validate-modules, import, pylint, pep8, yamllint, ansible-doc,
# runtime-metadata and changelog, and bootstraps pip in it from a host this machine cannot reach; those checks
# are covered here by ansible-doc on every plugin and role (docs parse, argument specs), ruff, yamllint and the
# unit tests. Everything else ansible-test has runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/ansible_collections/lastwords/panic
mkdir -p "$dest"
git ls-files -co --exclude-standard -z | xargs -0 tar -cf - | tar -xf - -C "$dest"
(cd "$dest" && git init -q && git add -A)

tests=(action-plugin-docs compile empty-init ignores line-endings no-assert no-get-exception no-illegal-filenames
       no-smart-quotes replace-urlopen shebang shellcheck symlinks use-argspec-type-path use-compat-six)
args=()
for t in "${tests[@]}"; do args+=(--test "$t"); done
(cd "$dest" && ansible-test sanity --local --python "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
   "${args[@]}" 2>&1 | grep -v -e 'locale' -e 'Reviewing previous')

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
echo "sanity: ansible-test (${#tests[@]} tests) passed; ansible-doc read $n plugins and roles"
