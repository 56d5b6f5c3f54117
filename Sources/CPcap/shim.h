// libpcap for Swift: <pcap/pcap.h> is on the default include path (no pkg-config: its .pc drags in dbus).
#include <pcap/pcap.h>
#include <pcap/sll.h>
#include <stdio.h>
