// SPDX-License-Identifier: GPL-2.0
/*
 * lastwords_rxbug: a TEST-ONLY kernel module that dies the way the NIC driver of the story did: a NULL pointer
 * dereference in the network receive path, once a given amount of traffic has arrived.
 *
 * It taps every received frame (dev_add_pack, ETH_P_ALL), so it runs where a driver's receive path runs: in
 * softirq, under net_rx_action and the NIC's NAPI poll. Once `after_bytes` bytes have arrived on `ifname` (every
 * interface when empty), the next frame received on `fault_ifname` (any interface when empty) refills a ring
 * that was never allocated. The lab builds it in a VM for one of its two kernels, loads it there, and soaks that
 * VM until it panics; never load it anywhere else.
 *
 * Why two interfaces: netconsole cannot send an oops raised inside the NAPI poll of its own NIC. net_rx_action
 * polls a device under netpoll_poll_lock, which makes this CPU the poll's owner; netpoll then sees
 * netpoll_owner_active() and queues the message for a work item, which a dying kernel never runs. The lab saw it:
 * three receive-path oopses on eth1, netconsole's NIC, and not one line at the receiver (the serial console had
 * them all). So the lab counts the load on eth1 and dies in eth0's receive path, at its next frame (the
 * controller's SSH traffic): a host whose netconsole leaves through another NIC than the one whose driver dies.
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

static char *fault_ifname = "";
module_param(fault_ifname, charp, 0444);
MODULE_PARM_DESC(fault_ifname, "fault in the receive path of this interface (default: any)");

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
	long seen = (!ifname[0] || !strcmp(dev->name, ifname)) ?
		atomic_long_add_return(skb->len, &lwrx_seen) : atomic_long_read(&lwrx_seen);

	if (seen >= (long)after_bytes && (!fault_ifname[0] || !strcmp(dev->name, fault_ifname)))
		lwrx_refill(skb->len);
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
	pr_info("lastwords_rxbug: armed, NULL dereference in the receive path of %s after %lu bytes received on %s\n",
		fault_ifname[0] ? fault_ifname : "any interface", after_bytes, ifname[0] ? ifname : "any interface");
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
