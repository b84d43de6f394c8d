import { z } from "zod";
import { isFlannelError } from "../errors.js";
import { utf8Length } from "../go/text.js";
import { isIPv6 } from "../ip/ipv6.js";
import { parseNetworkConfig } from "./parse.js";

// Go's dotted quad: four decimal fields 0-255 without leading zeros.
const OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
const IPV4 = `${OCTET}(?:\\.${OCTET}){3}`;
// Go's dtoi lets the prefix length carry leading zeros.
const IPV4_CIDR = new RegExp(`^${IPV4}/0*(?:3[0-2]|[12]?[0-9])$`);
const IPV6_CIDR = /^([^/]+)\/0*([0-9]{1,3})$/;

const ipv4Address = z
  .string()
  .regex(new RegExp(`^${IPV4}$`), "an IPv4 address such as 10.5.1.0")
  .meta({ format: "ipv4" });
const ipv4Cidr = z.string().regex(IPV4_CIDR, "an IPv4 CIDR such as 10.5.0.0/16");
const ipv6Address = z
  .string()
  .refine(isIPv6, "an IPv6 address such as fc00:0:0:1::")
  .meta({ format: "ipv6" });
const ipv6Cidr = z.string().refine((text) => {
  const m = IPV6_CIDR.exec(text);
  return m !== null && isIPv6(m[1]!) && Number(m[2]) <= 128;
}, "an IPv6 CIDR such as fc00::/48");

// Go's int, as far as a JS number holds it exactly (parseNetworkConfig's limit too).
const goInt = z.int();
const port = goInt.meta({ description: "UDP port" });

const backendOf = <T extends string, S extends z.core.$ZodLooseShape>(
  type: T,
  shape: S,
  description: string,
) => z.looseObject({ Type: z.literal(type), ...shape }).meta({ description });

const vxlan = backendOf(
  "vxlan",
  {
    VNI: goInt
      .optional()
      .meta({ description: "VXLAN network identifier; device flannel.<VNI>. Default 1." }),
    Port: port
      .optional()
      .meta({ description: "UDP port; 0 = kernel default (8472 on Linux). Default 0." }),
    GBP: z
      .boolean()
      .optional()
      .meta({ description: "Group-based policy extension. Default false." }),
    Learning: z.boolean().optional().meta({ description: "Kernel FDB learning. Default false." }),
    DirectRouting: z.boolean().optional().meta({
      description: "Route without encapsulation to hosts on the same L2 segment. Default false.",
    }),
    MTU: goInt.optional().meta({
      description: "Underlay MTU (device MTU = MTU - 50). Default: the external interface's.",
    }),
    MacPrefix: z.string().optional().meta({ description: "Windows only. Default 0E-2A." }),
  },
  "VXLAN overlay (flannel's usual choice)",
);
const hostGw = backendOf(
  "host-gw",
  {},
  "Routes via the other hosts' public IPs (needs L2 adjacency)",
);
const udp = backendOf(
  "udp",
  { Port: port.optional().meta({ description: "UDP port. Default 8285." }) },
  "Userspace UDP encapsulation (flannel's default when Backend is absent)",
);
const ipip = backendOf(
  "ipip",
  { DirectRouting: z.boolean().optional().meta({ description: "Default false." }) },
  "IP-in-IP tunnel",
);
const wireguard = backendOf(
  "wireguard",
  {
    ListenPort: port.optional().meta({ description: "Default 51820." }),
    ListenPortV6: port.optional().meta({ description: "Default 51821." }),
    MTU: goInt.optional().meta({ description: "Underlay MTU (device MTU = MTU - 80)." }),
    PSK: z.string().optional().meta({ description: "Pre-shared key. Default empty." }),
    PersistentKeepaliveInterval: goInt
      .optional()
      .meta({ description: "Seconds; 0 disables. Default 0." }),
    Mode: z
      .enum(["separate", "auto", "ipv4", "ipv6"])
      .optional()
      .meta({ description: "Default separate." }),
  },
  "WireGuard tunnel",
);
const ipsec = backendOf(
  "ipsec",
  {
    PSK: z
      .string()
      .refine((psk) => utf8Length(psk) >= 96, "at least 96 bytes")
      .meta({ description: "Pre-shared key, at least 96 bytes.", minLength: 96 }),
    UDPEncap: z.boolean().optional().meta({ description: "Default false." }),
    ESPProposal: z
      .string()
      .optional()
      .meta({ description: "Default aes128gcm16-sha256-prfsha256-ecp256." }),
  },
  "IPsec (strongSwan)",
);
const other = z
  .looseObject({ Type: z.enum(["alloc", "extension", "tencent-vpc", "aws-vpc", "gce", "ali-vpc"]) })
  .meta({ description: "Backends whose options this SDK keeps as written" });

/**
 * The zod schema of a flannel network config document as people write it, in flannel's
 * canonical spelling (`Network`, `SubnetLen`, `Backend.Type` lower-case, …): field types,
 * address syntax and per-backend options, with unknown keys allowed (flannel ignores them).
 * Its final check runs {@link parseNetworkConfig}, so a document passes only when flanneld
 * would accept it too. {@link parseNetworkConfig} stays the authority: it also accepts the
 * spellings Go tolerates (`"network"`, `"VXLAN"`, duplicate keys), which this schema does not.
 *
 * @example
 * ```ts
 * networkConfigSchema.parse({ Network: "10.5.0.0/16", Backend: { Type: "vxlan" } });
 * networkConfigSchema.safeParse({ Network: "10.5.0.0/30" }).success; // false
 * ```
 */
export const networkConfigSchema = z
  .looseObject({
    Network: ipv4Cidr
      .optional()
      .meta({ description: "The whole overlay range (IPv4 CIDR); host bits are masked." }),
    SubnetLen: z.int().min(0).max(30).optional().meta({
      description:
        "Prefix length leased to each host; default 24, or Network's + 2 when that is longer.",
    }),
    SubnetMin: ipv4Address
      .optional()
      .meta({ description: "First leasable subnet; default the second subnet of Network." }),
    SubnetMax: ipv4Address
      .optional()
      .meta({ description: "Last leasable subnet; default the last one." }),
    EnableIPv4: z.boolean().optional().meta({ description: "Default true." }),
    EnableIPv6: z.boolean().optional().meta({ description: "Default false." }),
    EnableNFTables: z
      .boolean()
      .optional()
      .meta({ description: "nftables instead of iptables. Default false." }),
    IPv6Network: ipv6Cidr
      .optional()
      .meta({ description: "The IPv6 overlay range (required when EnableIPv6)." }),
    IPv6SubnetLen: z.int().min(0).max(126).optional().meta({
      description: "Prefix length leased to each host; default 64, or IPv6Network's + 2.",
    }),
    IPv6SubnetMin: ipv6Address.optional(),
    IPv6SubnetMax: ipv6Address.optional(),
    Backend: z
      .discriminatedUnion("Type", [vxlan, hostGw, udp, ipip, wireguard, ipsec, other])
      .optional()
      .meta({ description: "The backend and its options; without it flannel uses udp." }),
  })
  .superRefine((doc, ctx) => {
    try {
      parseNetworkConfig(doc);
    } catch (e) {
      if (!isFlannelError(e, "CONFIG_INVALID")) throw e;
      ctx.addIssue({
        code: "custom",
        message: e.message,
        path: e.field === undefined ? [] : e.field.split("."),
      });
    }
  })
  .meta({
    title: "flannel network config",
    description: "The value of <etcd-prefix>/config that flanneld reads (flannel v0.28 semantics).",
  });

/** A network config document as {@link networkConfigSchema} describes it. */
export type NetworkConfigDocument = z.input<typeof networkConfigSchema>;

/**
 * The JSON Schema (draft 2020-12) of {@link networkConfigSchema}, for editors and CI linters:
 * the structural part only (JSON Schema cannot express flannel's cross-field checks).
 *
 * @example
 * ```ts
 * writeFileSync("flannel-config.schema.json", JSON.stringify(networkConfigJsonSchema(), null, 2));
 * ```
 */
export function networkConfigJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(networkConfigSchema, { io: "input", unrepresentable: "any" }) as Record<
    string,
    unknown
  >;
}
