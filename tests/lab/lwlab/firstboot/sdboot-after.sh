# shellcheck shell=sh
# after the initramfs rebuild: an entry per kernel, written by kernel-install from /etc/kernel/cmdline, with the
# initrds built for this machine
for image in /boot/vmlinuz-*; do
  k=${image#/boot/vmlinuz-}
  kernel-install add "$k" "$image" "/boot/initrd.img-$k"
done
set -- /boot/efi/loader/entries/*.conf
[ $# -ge 2 ]
bootctl status --no-pager || true
