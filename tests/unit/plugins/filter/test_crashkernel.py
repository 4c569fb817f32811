import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lastwords.panic.plugins.filter.crashkernel import crashkernel_auto, crashkernel_reserved_mb


@pytest.mark.parametrize("ram_mb, want", [
    (512, "192M"), (2048, "256M"), (4096, "256M"), (8192, "320M"), (20480, "320M"), (20481, "384M"),
    (65536, "512M"), (1024 * 1024, "1024M"),
])
def test_auto_grows_with_ram(ram_mb, want):
    assert crashkernel_auto(ram_mb) == want


@pytest.mark.parametrize("value, ram_mb, want", [
    ("256M", 2048, 256), ("512M@16M", 2048, 512), ("384M-:128M", 2048, 128), ("384M-:128M", 256, 0),
    ("1G-4G:192M,4G-64G:256M,64G-:512M", 8192, 256), ("1G", 2048, 1024), ("256M,high", 2048, 256),
])
def test_reserved_follows_the_kernel_syntax(value, ram_mb, want):
    assert crashkernel_reserved_mb(value, ram_mb) == want


@pytest.mark.parametrize("value", ["-5M", "lots", "256Q", "4G-1G:128M", "auto"])
def test_bad_values_fail_with_the_reason(value):
    with pytest.raises(AnsibleFilterError):
        crashkernel_reserved_mb(value, 2048)
