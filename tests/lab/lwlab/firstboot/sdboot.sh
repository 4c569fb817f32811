# shellcheck shell=sh
# install: systemd-boot on the ESP (bootctl also adds the firmware's boot entry to the VM's variable store)
mountpoint -q /boot/efi
bootctl install
printf 'timeout 1\nconsole-mode keep\n' > /boot/efi/loader/loader.conf
