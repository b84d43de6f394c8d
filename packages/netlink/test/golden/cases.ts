/**
 * The golden cases: request encoders with fixed inputs, in the order `capture.ts` sends them to
 * a fresh namespace (so the interface indexes below are the ones the kernel assigns there: lo 1,
 * ul1 2, ul0 3, flannel.1 4, cni0 5, flannel.2 6), and the replies it keeps.
 */
import { ipBytes, macBytes } from "../../src/nl/address.js";
import { AF_BRIDGE, AF_INET } from "../../src/nl/constants.js";
import {
  addrDumpRequest,
  addrRequest,
  bridgeNewRequest,
  fdbRequest,
  linkDelRequest,
  linkDumpRequest,
  linkGetRequest,
  linkSetRequest,
  type NlRequest,
  neighDumpRequest,
  neighRequest,
  routeDumpRequest,
  routeGetRequest,
  routeRequest,
  vxlanNewRequest,
} from "../../src/nl/messages.js";

export const INDEX_NAMES: Record<number, string> = {
  1: "lo",
  2: "ul1",
  3: "ul0",
  4: "flannel.1",
  5: "cni0",
  6: "flannel.2",
};
export const nameOf = (i: number): string => INDEX_NAMES[i] ?? `if${i}`;

const ip4 = (s: string) => ipBytes(s).bytes;

export interface RequestCase {
  readonly name: string;
  /** What it means, as iproute2 spells it. */
  readonly command: string;
  readonly build: () => NlRequest;
  /** Flags the connection adds when sending it alone (REQUEST | ACK for changes, REQUEST for gets, REQUEST | DUMP… already in flags). */
  readonly send: "change" | "get" | "dump";
}

export const requestCases: RequestCase[] = [
  { name: "link-dump", command: "ip link show", send: "dump", build: () => linkDumpRequest() },
  { name: "link-get-name", command: "ip link show ul0", send: "get", build: () => linkGetRequest({ name: "ul0" }) },
  {
    name: "vxlan-new",
    command: "ip link add flannel.1 address 0a:58:0a:fa:00:01 mtu 1450 type vxlan id 1 local 10.250.0.1 dev ul0 dstport 0 nolearning",
    send: "change",
    build: () =>
      vxlanNewRequest({
        name: "flannel.1",
        vni: 1,
        port: 0,
        local: ip4("10.250.0.1"),
        lowerIndex: 3,
        learning: false,
        gbp: false,
        mtu: 1450,
        mac: macBytes("0a:58:0a:fa:00:01"),
      }),
  },
  {
    name: "bridge-new",
    command: "ip link add cni0 mtu 1450 type bridge",
    send: "change",
    build: () => bridgeNewRequest({ name: "cni0", mtu: 1450, mac: null }),
  },
  {
    name: "vxlan-new-port-gbp",
    command: "ip link add flannel.2 type vxlan id 2 dstport 4789 learning gbp",
    send: "change",
    build: () =>
      vxlanNewRequest({
        name: "flannel.2",
        vni: 2,
        port: 4789,
        local: null,
        lowerIndex: null,
        learning: true,
        gbp: true,
        mtu: null,
        mac: null,
      }),
  },
  { name: "link-set-up", command: "ip link set dev flannel.1 up", send: "change", build: () => linkSetRequest(4, { up: true }) },
  {
    name: "link-set-mtu-mac",
    command: "ip link set dev cni0 mtu 1400 address 02:00:00:00:00:05",
    send: "change",
    build: () => linkSetRequest(5, { mtu: 1400, mac: macBytes("02:00:00:00:00:05") }),
  },
  {
    name: "addr-add",
    command: "ip addr add 172.30.8.0/32 dev flannel.1",
    send: "change",
    build: () => addrRequest("add", { index: 4, family: 4, ip: ip4("172.30.8.0"), prefixLen: 32, broadcast: null }),
  },
  {
    name: "addr-replace-broadcast",
    command: "ip addr replace 172.30.8.1/24 broadcast 172.30.8.255 dev cni0",
    send: "change",
    build: () =>
      addrRequest("replace", { index: 5, family: 4, ip: ip4("172.30.8.1"), prefixLen: 24, broadcast: ip4("172.30.8.255") }),
  },
  {
    name: "neigh-replace",
    command: "ip neigh replace 172.30.9.0 lladdr 0a:58:0a:fa:00:02 dev flannel.1 nud permanent",
    send: "change",
    build: () => neighRequest("replace", { index: 4, ip: ip4("172.30.9.0"), lladdr: macBytes("0a:58:0a:fa:00:02") }),
  },
  {
    name: "neigh-replace-v6",
    command: "ip neigh replace fd00:30:9:: lladdr 0a:58:0a:fa:00:02 dev flannel.1 nud permanent",
    send: "change",
    build: () => neighRequest("replace", { index: 4, ip: ipBytes("fd00:30:9::").bytes, lladdr: macBytes("0a:58:0a:fa:00:02") }),
  },
  {
    name: "fdb-replace",
    command: "bridge fdb replace 0a:58:0a:fa:00:02 dev flannel.1 dst 10.250.0.2 self permanent",
    send: "change",
    build: () => fdbRequest("replace", { index: 4, lladdr: macBytes("0a:58:0a:fa:00:02"), dst: ip4("10.250.0.2") }),
  },
  {
    name: "fdb-append-zero",
    command: "bridge fdb append 00:00:00:00:00:00 dev flannel.1 dst 10.250.0.3 self permanent",
    send: "change",
    build: () => fdbRequest("append", { index: 4, lladdr: macBytes("00:00:00:00:00:00"), dst: ip4("10.250.0.3") }),
  },
  {
    name: "route-replace-onlink",
    command: "ip route replace 172.30.9.0/24 via 172.30.9.0 dev flannel.1 onlink",
    send: "change",
    build: () =>
      routeRequest("replace", {
        family: 4,
        dst: ip4("172.30.9.0"),
        dstLen: 24,
        gateway: ip4("172.30.9.0"),
        oif: 4,
        table: 254,
        onlink: true,
        priority: 0,
      }),
  },
  {
    name: "route-replace-via",
    command: "ip route replace 172.30.10.0/24 via 10.250.0.3 dev ul0",
    send: "change",
    build: () =>
      routeRequest("replace", {
        family: 4,
        dst: ip4("172.30.10.0"),
        dstLen: 24,
        gateway: ip4("10.250.0.3"),
        oif: 3,
        table: 254,
        onlink: false,
        priority: 0,
      }),
  },
  {
    name: "route-replace-table",
    command: "ip route replace 172.30.11.0/24 via 10.250.0.4 dev ul0 table 1000 metric 10",
    send: "change",
    build: () =>
      routeRequest("replace", {
        family: 4,
        dst: ip4("172.30.11.0"),
        dstLen: 24,
        gateway: ip4("10.250.0.4"),
        oif: 3,
        table: 1000,
        onlink: false,
        priority: 10,
      }),
  },
  { name: "route-get", command: "ip route get 10.250.0.2", send: "get", build: () => routeGetRequest(ip4("10.250.0.2")) },
  { name: "addr-dump", command: "ip -4 addr show", send: "dump", build: () => addrDumpRequest(4) },
  { name: "route-dump", command: "ip -4 route show table all", send: "dump", build: () => routeDumpRequest(4) },
  { name: "neigh-dump", command: "ip -4 neigh show", send: "dump", build: () => neighDumpRequest(AF_INET) },
  { name: "fdb-dump", command: "bridge fdb show", send: "dump", build: () => neighDumpRequest(AF_BRIDGE) },
  {
    name: "route-del",
    command: "ip route del 172.30.10.0/24 via 10.250.0.3 dev ul0",
    send: "change",
    build: () =>
      routeRequest("del", {
        family: 4,
        dst: ip4("172.30.10.0"),
        dstLen: 24,
        gateway: ip4("10.250.0.3"),
        oif: 3,
        table: 254,
        onlink: false,
        priority: 0,
      }),
  },
  {
    name: "fdb-del",
    command: "bridge fdb del 00:00:00:00:00:00 dev flannel.1 dst 10.250.0.3 self",
    send: "change",
    build: () => fdbRequest("del", { index: 4, lladdr: macBytes("00:00:00:00:00:00"), dst: ip4("10.250.0.3") }),
  },
  {
    name: "neigh-del",
    command: "ip neigh del fd00:30:9:: dev flannel.1",
    send: "change",
    build: () => neighRequest("del", { index: 4, ip: ipBytes("fd00:30:9::").bytes, lladdr: null }),
  },
  {
    name: "addr-del",
    command: "ip addr del 172.30.8.1/24 dev cni0",
    send: "change",
    build: () => addrRequest("del", { index: 5, family: 4, ip: ip4("172.30.8.1"), prefixLen: 24, broadcast: null }),
  },
  { name: "link-del", command: "ip link del dev flannel.2", send: "change", build: () => linkDelRequest(6) },
];

/** Replies `capture.ts` keeps, and the decoder that reads each. */
export const replyCases = [
  { name: "reply-link-vxlan", decoder: "link", what: "RTM_NEWLINK of flannel.1 from the link dump" },
  { name: "reply-link-vxlan-gbp", decoder: "link", what: "RTM_NEWLINK of flannel.2 (dstport 4789, learning, gbp)" },
  { name: "reply-link-bridge", decoder: "link", what: "RTM_NEWLINK of cni0 from the link dump" },
  { name: "reply-addr", decoder: "addr", what: "RTM_NEWADDR 172.30.8.0/32 on flannel.1" },
  { name: "reply-addr-broadcast", decoder: "addr", what: "RTM_NEWADDR 172.30.8.1/24 brd 172.30.8.255 on cni0" },
  { name: "reply-route-onlink", decoder: "route", what: "RTM_NEWROUTE 172.30.9.0/24 via 172.30.9.0 dev flannel.1 onlink" },
  { name: "reply-route-table", decoder: "route", what: "RTM_NEWROUTE 172.30.11.0/24 table 1000 metric 10" },
  { name: "reply-route-get", decoder: "route", what: "RTM_NEWROUTE answering ip route get 10.250.0.2" },
  { name: "reply-neigh", decoder: "neigh", what: "RTM_NEWNEIGH 172.30.9.0 on flannel.1 (permanent)" },
  { name: "reply-fdb", decoder: "fdb", what: "RTM_NEWNEIGH AF_BRIDGE 0a:58:0a:fa:00:02 dst 10.250.0.2 self permanent" },
  { name: "reply-fdb-zero", decoder: "fdb", what: "RTM_NEWNEIGH AF_BRIDGE 00:00:00:00:00:00 dst 10.250.0.3 (append form)" },
  { name: "reply-error-eexist", decoder: "error", what: "NLMSG_ERROR -EEXIST answering vxlan-new sent twice" },
  { name: "reply-done", decoder: "done", what: "NLMSG_DONE ending a dump" },
] as const;
