/*
 * pcap-mydev.h — libpcap capture module for mydevd devices ("mydev0", ...).
 * pcapmod/libpcap-mydev.patch registers it unconditionally (no configure
 * option, no #ifdef): pcap.c includes this header and lists the module in
 * capture_source_types[],
 *
 *   	{ mydev_findalldevs, mydev_create },
 *
 * and Makefile.in adds pcap-mydev.c to MODULE_C_SRC. tools/build-libpcap.sh
 * copies this header, pcap-mydev.c, mydev_client.h and ring_abi.h flat into
 * a patched copy of libpcap's source, so every libpcap it builds has the
 * module. Include it after pcap-int.h (pcap_t, pcap_if_list_t).
 */
#ifndef MYDEV_PCAPMOD_PCAP_MYDEV_H_
#define MYDEV_PCAPMOD_PCAP_MYDEV_H_

int mydev_findalldevs(pcap_if_list_t *devlistp, char *errbuf);
pcap_t *mydev_create(const char *device, char *errbuf, int *is_ours);

#endif /* MYDEV_PCAPMOD_PCAP_MYDEV_H_ */
