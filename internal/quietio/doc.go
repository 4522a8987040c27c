// Package quietio reads and writes non-blocking sockets with raw system
// calls, going through Go's netpoller only when a call would block.
//
// An ordinary read or write on a net.Conn enters the scheduler's system
// call path (entersyscall): the goroutine's processor (P) is marked as in
// a system call, and the runtime's monitor thread (sysmon) takes it back
// when it finds the same call in progress on two of its ticks, 20 µs
// apart at their shortest. Each time it does, it resets its own sleep to
// 20 µs. On a node that relays every call between an HTTP client and a
// sandbox worker, with GOMAXPROCS=1, the writes that wake the other
// process often last that long (they run the wake-up, an inter-processor
// interrupt on a VM), so sysmon polled every 20-70 µs under load and took
// a sixth of the node's CPU, besides its context switches.
//
// A raw system call on a non-blocking socket never blocks: it returns
// EAGAIN instead, and then Conn parks the goroutine in the netpoller
// exactly as net.Conn does (syscall.RawConn), deadlines and Close
// included. The scheduler does not see the call at all, so sysmon has
// nothing to take back. The cost is that the P runs the kernel's work of
// the call itself rather than lending it out: for a call that cannot
// block, that is the same CPU either way.
//
// Under the race detector the calls go through syscall.Read and
// syscall.Write instead (still parking in the netpoller on EAGAIN):
// their annotations are how the detector learns that a write to a socket
// happens before the read of it at the other end, and without them it
// reports races between a client and the server that are not there.
package quietio
