#!/usr/bin/env bash
# Writes the first 1,000,000 bytes of Debian's fortunes text (package fortunes: the
# text files of /usr/share/games/fortunes, in C-locale name order, concatenated) to $1, the text the
# character transformer is compared with PyTorch on. iconv -c would drop a character cut in half
# at the end; for the files of Debian 12 the cut falls between characters and the file has exactly
# 1,000,000 bytes (sha256 75ad055681ba2fbf817ae6a1b0c8e1850c3a3ef0493194e007153c57a5e52bf2).
set -euo pipefail
out=${1:?usage: scripts/fortunes_1mb.sh OUT.txt}
dir=/usr/share/games/fortunes
files=$(cd "$dir" && LC_ALL=C ls | grep -v -e '\.dat$' -e '\.u8$')
# head closes the pipe after 1 MB; cat's broken pipe is expected, so pipefail is off for it.
set +o pipefail
(cd "$dir" && cat $files) | head -c 1000000 | iconv -f UTF-8 -t UTF-8 -c > "$out.tmp"
mv "$out.tmp" "$out"
