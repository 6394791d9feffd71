#!/usr/bin/env python3
"""Where the CPU of one request goes: a summary of a `perf record` profile of `signet serve`.

    profile-summary.py perf-cc.data --cpu-us 419 [--requests 41000] [--cpu-source TEXT]
                       [--top 25] [--json]

scripts/bench.sh makes one per scenario with BENCH_PROFILE=1 (profile-NAME.txt beside
perf-NAME.data); it can be run again on a kept perf-NAME.data, e.g. with the CPU time per
request of an unprofiled run.

Every sample goes to exactly one category, by the function it was taken in (self time):
the first rule of RULES below that matches it decides. A rule matches on the sample's
shared object (DSO, file name) and on its symbol, written "Module:name": Swift symbols are
demangled with `swift demangle --simplified` (no argument types), and the module is the
one the mangled name starts with (a generic specialization keeps the module of the generic
function); other symbols keep their name, with the DSO's file name as the module. A rule
with `caller` also needs some frame of the sample's call chain to match it (so SHA-256
counts as client authentication only when ClientRegistry called it).

Kernel samples are placed by their kernel call chain when the profile has one (`perf
record -g`): from the sampled function outwards, the first frame that KERNEL_RULES know
decides (so a spin-unlock inside try_to_wake_up is a thread hop, one inside tcp_sendmsg
is networking); without call chains only the sampled function counts.

µs per request is a category's share of the samples times --cpu-us, the server's CPU
time per request. Sampling adds a little CPU time of its own, so the figure of the
profiled run itself is slightly high; the CPU time of an unprofiled run of the same
binary is the better factor when there is one.

"Stacks through" counts the samples whose call chain passes through a category's code at
any depth (inclusive time, overlapping). These are lower bounds: the frame-pointer stack
of Swift async code ends where the task last resumed, and hand-written assembly (BoringSSL)
hides its caller.

Python 3 standard library only; needs `perf` and, for readable Swift names, `swift
demangle` (or swift-demangle) on the PATH.
"""
import argparse
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys

# --- Categories and their rules ----------------------------------------------------------

HTTP = "HTTP parsing and headers"
ROUTING = "routing and middleware"
NIO = "NIO event loop and channel pipeline"
CLIENT_AUTH = "client authentication"
JSON_CODING = "JSON encode/decode"
CRYPTO = "signing and verification (crypto)"
PASSWORD = "password hashing (Argon2id)"
DATABASE = "database client (PostgresNIO)"
CONCURRENCY = "Swift concurrency and thread hops"
MEMORY = "memory management"
GENERICS = "Swift runtime: generics, metadata, casts"
STDLIB = "Swift standard library (strings, collections)"
FOUNDATION = "Foundation, other than JSON"
SIGNET = "Signet's own code"
KERNEL_NET = "kernel networking"
KERNEL_OTHER = "other kernel"
OTHER = "other"

# In the order the reports list them.
CATEGORIES = [HTTP, ROUTING, NIO, CLIENT_AUTH, JSON_CODING, CRYPTO, PASSWORD, DATABASE, CONCURRENCY, MEMORY,
              GENERICS, STDLIB, FOUNDATION, SIGNET, KERNEL_NET, KERNEL_OTHER, OTHER]
# The categories of "stacks through" (inclusive time).
STACK_CATEGORIES = [HTTP, ROUTING, CLIENT_AUTH, JSON_CODING, CRYPTO, DATABASE]

# User-space samples: the first row that matches the sampled function decides, so the
# order matters (the Swift runtime's metadata caches are `swift::` C++ code too: they come
# before the concurrency row that takes the rest of `swift::`). Patterns are Python
# regular expressions, searched in the DSO's file name and in "Module:name"; "caller"
# must match some frame of the call chain. Nothing matches: OTHER.
M = r"^[^:]*:"  # any module, then the name from its start
CLIENT = r"ClientRegistry|ClientAuthentication"
RULES = [
    # category    DSO                         symbol ("Module:name")                                       caller
    (PASSWORD,    r"^libargon2",              None,                                                        None),
    (HTTP,        None,                       r"c_nio_llhttp",                                             None),
    (HTTP,        None,                       r"^(NIOHTTP1|NIOHTTPTypes\w*|HTTPTypes):",                   None),
    (DATABASE,    None,                       r"^(PostgresNIO|_ConnectionPoolModule):",                    None),
    (CLIENT_AUTH, None,                       CLIENT + r"|ClientSecret",                                   None),
    # SHA-256 and HMAC count here when ClientRegistry called them (elsewhere: crypto, below).
    (CLIENT_AUTH, None,                       r"(?i)sha256|hmac|HashFunction|Digest",                      CLIENT),
    (JSON_CODING, None,                       r"JSON(Encoder|Decoder|Serialization|Writer|Scanner|Map)",   None),
    (JSON_CODING, None,                       r"JSON5Scanner|JSON(Keyed|Unkeyed|SingleValue)",             None),
    (JSON_CODING, None,                       r"^FoundationEssentials:.*JSON|^JWTKit:.*JSON",              None),
    (CRYPTO,      None,                       r"^(Crypto|_CryptoExtras|CryptoBoringWrapper):",             None),
    (CRYPTO,      None,                       r"CCryptoBoringSSL|nistz256",                                None),
    # BoringSSL's assembly for RSA (Montgomery multiplication) has names of its own.
    (CRYPTO,      None,                       M + r"(__bn_\w+|\w*(mul|sqr)x?\d+x\w*|rsaz_\w+)$",           None),
    (CRYPTO,      None,                       M + r"(bn|ec|ecp|ecdsa|p256|sha\d+|aes|gcm|x25519|ed25519"
                                              r"|rsa|RSA|EVP|BN|EC|fiat|bssl)_",                           None),
    (CRYPTO,      None,                       r"^JWTKit:.*(ECDSA|RSA|EdDSA|HMAC)",                         None),
    (ROUTING,     None,                       r"^Hummingbird\w*:|Router|Middleware|RequestContext",        None),
    # The bridge between NIO's event loops and Swift tasks (a request crosses it twice).
    (CONCURRENCY, None,                       r"^NIOCore:.*(NIOAsync|NIOThrowingAsync|AsyncSequenceProducer"
                                              r"|AsyncWriter)",                                            None),
    (MEMORY,      None,                       M + r"(__GI_)?_*(libc_)?(malloc|free|cfree|calloc|realloc"
                                              r"|int_malloc|int_free|int_realloc|malloc_consolidate"
                                              r"|unlink_chunk|tcache\w*|sysmalloc|posix_memalign"
                                              r"|aligned_alloc|mid_memalign|malloc_usable_size)"
                                              r"(\.\w+)*(@\S+)?$",                                        None),
    (MEMORY,      None,                       M + r"_?swift_(retain|release|nonatomic_retain"
                                              r"|nonatomic_release|retain_n|release_n|bridgeObjectRetain\w*"
                                              r"|bridgeObjectRelease\w*|unknownObjectRetain"
                                              r"|unknownObjectRelease|unownedRetain\w*|weak\w*"
                                              r"|isUniquelyReferenced\w*|release_dealloc|setDeallocating)$", None),
    (MEMORY,      None,                       M + r"swift_(allocObject|deallocObject|deallocClassInstance"
                                              r"|deallocUninitializedObject|slowAlloc|slowDealloc"
                                              r"|allocBox|deallocBox|initStackObject)$",                   None),
    (MEMORY,      None,                       r"swift::RefCounts|deallocating.deinit"
                                              r"|" + M + r"outlined (copy|consume|destroy|retain|release)", None),
    (GENERICS,    None,                       r"swift_getGenericMetadata|getCache|swift_getWitnessTable"
                                              r"|tryCast|swift_dynamicCast|swift_conformsToProtocol"
                                              r"|ProtocolConformance",                                     None),
    (GENERICS,    None,                       r"GenericCacheEntry|MetadataCache|ConcurrentReadableHashMap"
                                              r"|MetadataWaitQueue|LockingConcurrentMap|swift::metadataimpl"
                                              r"|swift::Demangle|swift::TypeDecoder"
                                              r"|swift::__runtime::llvm::hashing|hash_\w+<swift::Target",  None),
    (GENERICS,    None,                       r"swift_getAssociated\w+|swift_checkMetadataState"
                                              r"|instantiate\w*Metadata|swift_getTypeByMangledName"
                                              r"|swift_get\w*TypeMetadata\d*|swift_getCanonical\w*"
                                              r"|swift_allocateGenericValueMetadata|swift_initStructMetadata"
                                              r"|swift_getSingletonMetadata|_swift_\w*[Mm]etadata"
                                              r"|__swift_instantiate\w+|type metadata",                    None),
    # Value witnesses: copying, destroying and projecting values of generic or existential type.
    (GENERICS,    None,                       r"EnumCaseMultiPayload|EnumTagMultiPayload"
                                              r"|EnumTagSinglePayload|ValueWitness|value witness"
                                              r"|boxed_opaque_existential|swift_cvw_\w+|tuple_\w+<"
                                              r"|swift_array(InitWith|AssignWith)\w+|swift_arrayDestroy"
                                              r"|" + M + r"(initializeWithCopy|initializeWithTake|assignWithCopy"
                                              r"|assignWithTake|destroy|initializeBufferWithCopyOfBuffer)"
                                              r" for ",                                                    None),
    # Exclusivity checks and one-time initialisation.
    (GENERICS,    None,                       r"swift_beginAccess|swift_endAccess|swift::runtime::AccessSet"
                                              r"|swift_once|swift_getObjectType|swift_getTypeName",        None),
    (CONCURRENCY, r"^(libswift_Concurrency|libdispatch)\.", None,                                          None),
    (CONCURRENCY, None,                       M + r"(swift_(task|job|continuation|asyncLet)\w*|swift::"
                                              r"|_?dispatch_|sem_)",                                       None),
    (CONCURRENCY, None,                       r"futex|pthread_cond|pthread_mutex|pthread_rwlock"
                                              r"|pthread_once|__lll_lock|NIOLock|ConditionLock",           None),
    (CONCURRENCY, None,                       r"^(NIOConcurrencyHelpers|Atomics|Synchronization):",        None),
    (NIO,         None,                       r"^(NIOCore|NIOPosix|NIOEmbedded|_NIODataStructures"
                                              r"|_NIOBase64|NIOExtras\w*|DequeModule):",                   None),
    (STDLIB,      None,                       r"^(Swift|_StringProcessing|_RegexParser):",                 None),
    (FOUNDATION,  r"^(libFoundation|lib_FoundationICU)", None,                                             None),
    (FOUNDATION,  None,                       r"^(Foundation|FoundationEssentials"
                                              r"|FoundationInternationalization):",                        None),
    (SIGNET,      None,                       r"^(Signet\w*|signet):",                                     None),
]

# Small helpers that take the category of their caller when the sample has a call chain
# (a memcpy in the JSON writer is JSON work): the first frame above them that is not one.
PASS_THROUGH = M + r"(__tls_get_addr|(__)?mem(move|cpy|set|cmp|chr)\w*|__strlen\w*|strlen|\w+@plt)$"

# Kernel samples: walking from the sampled function towards the system call or interrupt
# entry, the first frame one of these patterns matches decides (frame order, then row
# order); none: KERNEL_OTHER.
KERNEL_RULES = [
    (CONCURRENCY, r"^(schedule|__schedule|finish_task_switch|try_to_wake_up|ttwu_|wake_up_q|__wake_up"
                  r"|autoremove_wake_function|enqueue_task|dequeue_task|pick_next_task|update_curr|select_task_rq"
                  r"|sched_|__sched|psi_|switch_mm|__switch_to|asm_sysvec_reschedule_ipi|sysvec_reschedule_ipi)"),
    (CONCURRENCY, r"^(futex_|__futex|do_futex|__x64_sys_futex|eventfd_|__x64_sys_sched_yield|do_sched_yield"
                  r"|do_nanosleep|hrtimer_nanosleep|__x64_sys_clone|__do_sys_clone|wake_up_new_task|copy_process"
                  r"|do_exit)"),
    (MEMORY,      r"^(exc_page_fault|do_user_addr_fault|handle_mm_fault|__handle_mm_fault|do_anonymous_page"
                  r"|do_wp_page|clear_page\w*|__alloc_pages|alloc_pages|get_page_from_freelist|__folio_alloc"
                  r"|folio_alloc|free_unref_\w+|__free_pages|free_pages|__x64_sys_(mmap|munmap|madvise|brk|mprotect)"
                  r"|do_madvise|zap_\w+|unmap_\w+|tlb_\w+|flush_tlb\w*|__kmalloc\w*|kmalloc\w*|kmem_cache_\w+"
                  r"|kfree\w*|__slab\w*)"),
    (KERNEL_NET,  r"^(tcp_|__tcp|ip_|__ip_|ipv4_|inet_|__inet|sock_|__sock|sk_|__sk_|skb_|__skb|kfree_skb"
                  r"|consume_skb|net_|__net|netif_|__netif|napi|__napi|loopback_|__dev_queue_xmit"
                  r"|dev_hard_start_xmit|process_backlog|nf_|validate_xmit|release_sock|lock_sock|security_socket)"),
    (KERNEL_NET,  r"^(__sys_(sendto|recvfrom|sendmsg|recvmsg|accept|accept4|connect|shutdown)|ep_|do_epoll|epoll"
                  r"|__x64_sys_(sendto|recvfrom|sendmsg|recvmsg|read|write|readv|writev|epoll_\w+|accept4?|shutdown)"
                  r"|ksys_read|ksys_write|do_iter_readv_writev|vfs_readv|vfs_writev|do_readv|do_writev)"),
]


class Rule:
    def __init__(self, category, dso, symbol, caller):
        self.category = category
        self.dso = re.compile(dso) if dso else None
        self.symbol = re.compile(symbol) if symbol else None
        self.caller = re.compile(caller) if caller else None

    def matches(self, frame, names):
        """frame: (DSO file name, "Module:name"); names: the "Module:name" of every frame of the sample."""
        dso, name = frame
        if self.dso and not self.dso.search(dso):
            return False
        if self.symbol and not self.symbol.search(name):
            return False
        if self.caller and not any(self.caller.search(other) for other in names):
            return False
        return True


RULES = [Rule(*row) for row in RULES]
PASS_THROUGH = re.compile(PASS_THROUGH)
KERNEL_RULES = [(category, re.compile(pattern)) for category, pattern in KERNEL_RULES]

# --- Reading the profile ----------------------------------------------------------------------

FRAME = re.compile(r"^\s*([0-9a-f]+)\s+(.*?)\s+\(([^()]*)\)\s*$")
HEADER_ONLY = re.compile(r"^\s*(\d+)\s*$")
HEADER_AND_FRAME = re.compile(r"^\s*(\d+)\s+([0-9a-f]+)\s+(.*?)\s+\(([^()]*)\)\s*$")


def read_samples(data):
    """[(period, [(symbol, dso), ...] leaf first)] from `perf script`."""
    command = ["perf", "script", "-i", data, "-F", "period,ip,sym,dso", "--no-inline"]
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, errors="replace").stdout
    samples = []
    current = None
    for line in output.splitlines():
        if not line.strip():
            current = None
            continue
        match = HEADER_AND_FRAME.match(line)
        if match and not line.startswith(("\t", " " * 8)):
            samples.append((int(match.group(1)), [(match.group(3), match.group(4))]))
            current = None
            continue
        match = HEADER_ONLY.match(line)
        if match:
            current = (int(match.group(1)), [])
            samples.append(current)
            continue
        match = FRAME.match(line)
        if match and current is not None:
            current[1].append((match.group(2), match.group(3)))
    return [(period, frames) for period, frames in samples if frames]


def demangler():
    if shutil.which("swift-demangle"):
        return ["swift-demangle"]
    if shutil.which("swift"):
        return ["swift", "demangle"]
    return None


SWIFT_SYMBOL = re.compile(r"^_?\$[sSe]|^_T0")


def demangle_all(symbols):
    """{mangled Swift symbol: simplified demangled name}; empty without a demangler."""
    command = demangler()
    mangled = sorted(s for s in symbols if SWIFT_SYMBOL.match(s))
    if not command or not mangled:
        return {}
    result = subprocess.run(command + ["--simplified"], input="\n".join(mangled) + "\n", check=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, errors="replace")
    lines = result.stdout.splitlines()
    if len(lines) != len(mangled):
        return {}
    return dict(zip(mangled, lines))


def swift_module(symbol):
    """The module a mangled Swift symbol starts with, or None."""
    match = re.match(r"^_?(?:\$[sSe]|_T0)(.*)$", symbol)
    if not match:
        return None
    rest = match.group(1)
    if rest.startswith("s") or (len(rest) > 1 and rest[0] == "S" and rest[1].isalpha() and rest[1] not in "o"):
        return "Swift"  # the standard library's substitutions: s, SS, Sa, SD, ST, ...
    if rest.startswith("So"):
        return "__C"
    digits = re.match(r"^(\d+)", rest)
    if not digits:
        return None
    length = int(digits.group(1))
    return rest[len(digits.group(1)):len(digits.group(1)) + length] or None


# --- Classification -------------------------------------------------------------------------


class Names:
    def __init__(self, demangled):
        self.demangled = demangled
        self.cache = {}

    def __call__(self, symbol, dso):
        """(dso file name, "Module:name", display name)."""
        key = (symbol, dso)
        if key not in self.cache:
            base = os.path.basename(dso)
            if symbol in self.demangled:
                name = self.demangled[symbol]
                module = swift_module(symbol) or base
            else:
                name = symbol
                module = base
            self.cache[key] = (base, f"{module}:{name}", name)
        return self.cache[key]


def classify(frames, names):
    """The category of one sample (frames leaf first, each (symbol, dso))."""
    if frames[0][1].startswith("[kernel"):
        for symbol, dso in frames:
            if not dso.startswith("[kernel"):
                break
            for category, pattern in KERNEL_RULES:
                if pattern.search(symbol):
                    return category
        return KERNEL_OTHER
    resolved = [names(symbol, dso) for symbol, dso in frames]
    chain = [full for _, full, _ in resolved]
    index = 0
    while index + 1 < len(resolved) and PASS_THROUGH.search(resolved[index][1]) \
            and not resolved[index + 1][1].endswith(":[unknown]"):
        index += 1
    leaf = (resolved[index][0], resolved[index][1])
    for rule in RULES:
        if rule.matches(leaf, chain):
            return rule.category
    return OTHER


def stack_categories(frames, names):
    """The STACK_CATEGORIES some frame of the sample belongs to (by the rules without a caller)."""
    found = set()
    for symbol, dso in frames:
        if dso.startswith("[kernel"):
            continue
        base, full, _ = names(symbol, dso)
        for rule in RULES:
            if rule.category in STACK_CATEGORIES and rule.category not in found and rule.caller is None \
                    and rule.matches((base, full), ()):
                found.add(rule.category)
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="a perf.data file of `perf record -p PID [-g]`")
    parser.add_argument("--cpu-us", type=float, help="the server's CPU time per request, µs")
    parser.add_argument("--cpu-source", default="", help="where --cpu-us comes from (printed)")
    parser.add_argument("--requests", type=int, help="requests completed during the profile (printed)")
    parser.add_argument("--top", type=int, default=25, help="symbols to list (default: 25)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead")
    args = parser.parse_args()

    samples = read_samples(args.data)
    if not samples:
        sys.exit(f"no samples in {args.data}")
    names = Names(demangle_all({symbol for _, frames in samples for symbol, _ in frames}))
    has_chains = any(len(frames) > 1 for _, frames in samples)

    total = 0
    by_category = collections.Counter()
    by_stack = collections.Counter()
    by_symbol = collections.Counter()
    symbol_categories = collections.defaultdict(collections.Counter)
    other_by_dso = collections.Counter()
    for period, frames in samples:
        total += period
        category = classify(frames, names)
        by_category[category] += period
        symbol, dso = frames[0]
        base, _, display = names(symbol, dso)
        key = (display, base)
        by_symbol[key] += period
        symbol_categories[key][category] += period
        if category == OTHER:
            other_by_dso[base] += period
        if has_chains:
            for stack_category in stack_categories(frames, names):
                by_stack[stack_category] += period

    def symbol_category(key):
        """The category of a symbol's samples; helpers and kernel functions can have several."""
        (category, value), = symbol_categories[key].most_common(1)
        return category if value == sum(symbol_categories[key].values()) else f"mostly {category}"

    def share(value):
        return value / total if total else 0.0

    def us(value):
        return share(value) * args.cpu_us if args.cpu_us is not None else None

    if args.json:
        print(json.dumps({
            "data": args.data, "samples": len(samples), "cpu_us": args.cpu_us, "cpu_source": args.cpu_source,
            "requests": args.requests,
            "categories": {c: {"percent": round(100 * share(by_category[c]), 2), "us": us(by_category[c])}
                           for c in CATEGORIES},
            "stacks_through": {c: {"percent": round(100 * share(by_stack[c]), 2), "us": us(by_stack[c])}
                               for c in STACK_CATEGORIES} if has_chains else None,
            "top": [{"symbol": s, "dso": d, "percent": round(100 * share(v), 2), "us": us(v),
                     "category": symbol_category((s, d))} for (s, d), v in by_symbol.most_common(args.top)],
        }, indent=2, ensure_ascii=False))
        return

    def us_text(value):
        figure = us(value)
        return "-" if figure is None else f"{figure:.1f}"

    print(f"profile: {args.data}")
    line = f"samples: {len(samples)}"
    if args.requests:
        line += f", requests: {args.requests} ({len(samples) / args.requests:.3f} samples per request)"
    print(line + ("" if has_chains else "; no call chains (recorded without -g)"))
    if args.cpu_us is not None:
        source = f" ({args.cpu_source})" if args.cpu_source else ""
        print(f"server CPU per request: {args.cpu_us:.0f} µs{source}; µs/req below = share × this")
    else:
        print("server CPU per request: not given (--cpu-us); shares only")
    if not demangler():
        print("note: no swift demangle on the PATH, Swift names are mangled and some rules miss them")
    print()
    width = max(len(c) for c in CATEGORIES)
    print(f"{'category (self time)':<{width}}  {'% samples':>9}  {'µs/req':>7}")
    for category in CATEGORIES:
        print(f"{category:<{width}}  {100 * share(by_category[category]):>9.1f}  {us_text(by_category[category]):>7}")
    print(f"{'total':<{width}}  {100.0:>9.1f}  {us_text(total):>7}")
    if other_by_dso:
        print("\nother, by DSO: " + ", ".join(f"{dso} {100 * share(value):.1f} %"
                                             for dso, value in other_by_dso.most_common(6)))
    if has_chains:
        print("\nstacks through (inclusive, overlapping; lower bounds: async stacks end at the last resumption)")
        for category in STACK_CATEGORIES:
            print(f"{category:<{width}}  {100 * share(by_stack[category]):>9.1f}  {us_text(by_stack[category]):>7}")
    print(f"\ntop {args.top} symbols (self time)")
    print(f"{'%':>5}  {'µs/req':>6}  {'category':<{width + 7}}  {'DSO':<26}  symbol")
    for (symbol, dso), value in by_symbol.most_common(args.top):
        shown = symbol if len(symbol) <= 120 else symbol[:117] + "..."
        print(f"{100 * share(value):>5.1f}  {us_text(value):>6}  {symbol_category((symbol, dso)):<{width + 7}}  "
              f"{dso[:26]:<26}  {shown}")


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under `| head`
    main()
