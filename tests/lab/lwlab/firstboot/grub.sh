# shellcheck shell=sh
# install: GRUB on the disk's MBR, its menu from /etc/default/grub
echo 'grub-pc grub-pc/install_devices multiselect /dev/vda' | debconf-set-selections
grub-install /dev/vda
update-grub
