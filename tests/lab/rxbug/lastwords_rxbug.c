// SPDX-License-Identifier: GPL-2.0
/*
 * lastwords_rxbug: a TEST-ONLY kernel module that dies the way the NIC driver of the story did: a NULL pointer
 * dereference in the network receive path, once a given amount of traffic has arrived.
 *
 * It taps every received frame (dev_add_pack, ETH_P_ALL), so it runs where a driver's receive path runs: in
 * softirq, under net_rx_action and the NIC's NAPI poll. After `after_bytes` bytes on `ifname` (every interface
 * when empty) it refills a ring that was never allocated. The lab builds it in a VM for one of its two kernels,
 * loads it there, and soaks that VM until it panics; never load it anywhere else.
 */
#include <linux/atomic.h>
#include <linux/if_ether.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <linux/string.h>

static unsigned long after_bytes = 64UL << 20;
module_param(after_bytes, ulong, 0444);
MODULE_PARM_DESC(after_bytes, "bytes received before the bug fires (default 64 MiB)");

static char *ifname = "";
module_param(ifname, charp, 0444);
MODULE_PARM_DESC(ifname, "count frames received on this interface only (default: every interface)");

struct lwrx_ring {
	unsigned long *slots;
	unsigned int size;
};

/* The bug: the receive ring is used before anything allocated it. */
static struct lwrx_ring *lwrx_ring;
static atomic_long_t lwrx_seen = ATOMIC_LONG_INIT(0);

/*
 * It reads the ring itself: were the ring its argument, GCC's interprocedural scalar replacement (IPA-SRA, which
 * noinline does not stop) would load ring->size in the caller and the fault would land there (the lab saw
 * "RIP: lwrx_rcv+0x5b" before this was so).
 */
static noinline void lwrx_refill(unsigned int len)
{
	struct lwrx_ring *ring = READ_ONCE(lwrx_ring);

	ring->slots[len % (ring->size | 1)] = len;
}

static int lwrx_rcv(struct sk_buff *skb, struct net_device *dev, struct packet_type *pt,
		    struct net_device *orig_dev)
{
	if (!ifname[0] || !strcmp(dev->name, ifname)) {
		if (atomic_long_add_return(skb->len, &lwrx_seen) >= (long)after_bytes)
			lwrx_refill(skb->len);
	}
	kfree_skb(skb); /* a tap gets its own reference to every frame */
	return NET_RX_SUCCESS;
}

static struct packet_type lwrx_packet_type = {
	.type = cpu_to_be16(ETH_P_ALL),
	.func = lwrx_rcv,
};

static int __init lwrx_init(void)
{
	dev_add_pack(&lwrx_packet_type);
	pr_info("lastwords_rxbug: armed, NULL dereference after %lu bytes received on %s\n", after_bytes,
		ifname[0] ? ifname : "any interface");
	return 0;
}

static void __exit lwrx_exit(void)
{
	dev_remove_pack(&lwrx_packet_type);
}

module_init(lwrx_init);
module_exit(lwrx_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("lastwords test only: a NULL dereference in the receive path after some traffic");
