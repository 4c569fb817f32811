/*
 * blast: the receiver ingest benchmark's sender, so that the sender is not the limit.
 *
 *   blast PORT FIRST_SOURCE SOURCES RATE SECONDS
 *
 * SOURCES sockets, bound to consecutive IPv4 addresses from FIRST_SOURCE (127.0.0.2 ...), send numbered
 * netconsole-like lines of about 100 bytes to 127.0.0.1:PORT, round-robin, with sendmmsg(2) in batches of up to
 * 64 datagrams per call, paced to RATE lines per second in all (0: as fast as it goes) for SECONDS seconds.
 * Host N (the N-th source, from 1) sends "h=NN seq=NNNNNNN", its own count from 0, as run's Python sender does.
 * Prints one JSON line: {"sent": lines, "seconds": elapsed, "errors": failed sends}. Loopback only: the
 * benchmark gives it 127.0.0.x sources and 127.0.0.1 as the target; anything else is refused.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define LINE_MAX_BYTES 128

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct sockaddr_in target = { .sin_family = AF_INET };
	struct in_addr first;
	long port, sources, rate;
	double seconds;

	if (argc != 6) {
		fprintf(stderr, "usage: %s PORT FIRST_SOURCE SOURCES RATE SECONDS\n", argv[0]);
		return 2;
	}
	port = strtol(argv[1], NULL, 10);
	sources = strtol(argv[3], NULL, 10);
	rate = strtol(argv[4], NULL, 10);
	seconds = strtod(argv[5], NULL);
	if (port < 1 || port > 65535 || sources < 1 || sources > 250 || rate < 0 || seconds <= 0 ||
	    inet_pton(AF_INET, argv[2], &first) != 1 || (ntohl(first.s_addr) >> 24) != 127) {
		fprintf(stderr, "blast: bad arguments (a port, a 127.x source, 1-250 sources, rate >= 0, seconds > 0)\n");
		return 2;
	}
	target.sin_port = htons((uint16_t)port);
	target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	int *fds = calloc(sources, sizeof(*fds));
	uint64_t *seq = calloc(sources, sizeof(*seq));
	if (!fds || !seq)
		return 1;
	for (long i = 0; i < sources; i++) {
		struct sockaddr_in src = { .sin_family = AF_INET };
		int sndbuf = 4 << 20;

		src.sin_addr.s_addr = htonl(ntohl(first.s_addr) + i);
		fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
		if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&src, sizeof(src)) < 0) {
			perror("blast: socket/bind");
			return 1;
		}
		setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
		if (connect(fds[i], (struct sockaddr *)&target, sizeof(target)) < 0) {
			perror("blast: connect");
			return 1;
		}
	}

	static char lines[BATCH][LINE_MAX_BYTES];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	uint64_t sent = 0, errors = 0;
	long host = 0;
	double start = now(), elapsed = 0;

	memset(msgs, 0, sizeof(msgs));
	while ((elapsed = now() - start) < seconds) {
		long want = BATCH;

		if (rate) {
			uint64_t due = (uint64_t)(elapsed * rate);

			if (due <= sent) {
				struct timespec pause = { 0, 100000 };

				nanosleep(&pause, NULL);
				continue;
			}
			if (due - sent < (uint64_t)want)
				want = (long)(due - sent);
		}
		/* one batch from one source, the next batch from the next */
		for (long k = 0; k < want; k++) {
			int len = snprintf(lines[k], LINE_MAX_BYTES,
					   "[%6d.%06d] lastwords bench h=%02ld seq=%07llu xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
					   (int)elapsed, (int)((elapsed - (int)elapsed) * 1e6), host + 1,
					   (unsigned long long)seq[host]++);
			iov[k].iov_base = lines[k];
			iov[k].iov_len = (size_t)len;
			msgs[k].msg_hdr.msg_iov = &iov[k];
			msgs[k].msg_hdr.msg_iovlen = 1;
		}
		int done = sendmmsg(fds[host], msgs, (unsigned int)want, 0);
		if (done < 0) {
			errors += (uint64_t)want;  /* counted as sent: the receiver's count shows the loss */
			done = (int)want;
		} else if (done < want) {
			errors += (uint64_t)(want - done);
		}
		sent += (uint64_t)want;
		host = (host + 1) % sources;
	}
	printf("{\"sent\": %llu, \"seconds\": %.3f, \"errors\": %llu}\n", (unsigned long long)sent, elapsed,
	       (unsigned long long)errors);
	return 0;
}
