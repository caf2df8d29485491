/*
 * pcap-mydev.h — libpcap capture module for mydevd devices ("mydev0", ...).
 * Registered in pcap.c's capture_source_types[] by pcapmod/libpcap-mydev.patch:
 *
 *   #ifdef PCAP_SUPPORT_MYDEV
 *   	{ mydev_findalldevs, mydev_create },
 *   #endif
 */
#ifndef MYDEV_PCAPMOD_PCAP_MYDEV_H_
#define MYDEV_PCAPMOD_PCAP_MYDEV_H_

int mydev_findalldevs(pcap_if_list_t *devlistp, char *errbuf);
pcap_t *mydev_create(const char *device, char *errbuf, int *is_ours);

#endif /* MYDEV_PCAP_MYDEV_H_ */
