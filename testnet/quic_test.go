package testnet

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

const quicTestALPN = "warren-testnet"

// quicTestTLS returns a server config with a fresh self-signed certificate
// for "server" and a client config that trusts only it.
func quicTestTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "server"},
		DNSNames:              []string{"server"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	server = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		NextProtos:   []string{quicTestALPN},
	}
	client = &tls.Config{RootCAs: roots, ServerName: "server", NextProtos: []string{quicTestALPN}}
	return server, client
}

// TestQUICOverFabric runs a real quic-go handshake and stream echo between
// two fabric conns with 5 ms one-way latency, and checks that quic-go's
// RTT estimate sees the injected delay.
func TestQUICOverFabric(t *testing.T) {
	f := newTestFabric(t)
	const oneWay = 5 * time.Millisecond
	f.SetLatency("client", "server", oneWay)
	start := time.Now()
	stats := quicEchoOverFabric(t, f)
	if took := time.Since(start); took < 2*oneWay {
		t.Errorf("handshake and echo took %v, less than one round trip of %v", took, 2*oneWay)
	}
	t.Logf("quic-go RTT over the fabric: min %v, smoothed %v, latest %v", stats.MinRTT, stats.SmoothedRTT, stats.LatestRTT)
	if stats.MinRTT < 2*oneWay || stats.SmoothedRTT < 2*oneWay {
		t.Errorf("RTT min %v, smoothed %v: want >= %v from %v one-way latency", stats.MinRTT, stats.SmoothedRTT, 2*oneWay, oneWay)
	}
	if stats.MinRTT > 2*oneWay+lateMargin {
		t.Errorf("min RTT %v, want about %v", stats.MinRTT, 2*oneWay)
	}
}

// TestQUICOverLossyFabric: quic-go recovers from 5% loss each way.
func TestQUICOverLossyFabric(t *testing.T) {
	f := newTestFabric(t)
	f.SetLatency("client", "server", time.Millisecond)
	f.SetLoss("client", "server", 0.05)
	quicEchoOverFabric(t, f)
	_, _, dropped := f.Stats("client")
	_, _, dropped2 := f.Stats("server")
	t.Logf("datagrams dropped: %d from the client, %d from the server", dropped, dropped2)
}

// quicEchoOverFabric listens as host "server", dials from host "client",
// echoes 100 kB over one stream and returns the client's connection stats.
func quicEchoOverFabric(t *testing.T, f *Fabric) quic.ConnectionStats {
	t.Helper()
	serverConn, clientConn := listen(t, f, "server"), listen(t, f, "client")
	serverTLS, clientTLS := quicTestTLS(t)

	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()

	serverTr := &quic.Transport{Conn: serverConn}
	defer serverTr.Close()
	ln, err := serverTr.Listen(serverTLS, nil)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer ln.Close()

	serverDone := make(chan error, 1)
	go func() { serverDone <- quicEcho(ctx, ln) }()

	clientTr := &quic.Transport{Conn: clientConn}
	defer clientTr.Close()
	conn, err := clientTr.Dial(ctx, f.Addr("server"), clientTLS, nil)
	if err != nil {
		t.Fatalf("Dial over the fabric: %v", err)
	}
	defer conn.CloseWithError(0, "")

	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatalf("OpenStreamSync: %v", err)
	}
	msg := make([]byte, 100_000) // many packets, so the stream is really carried
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	if _, err := str.Write(msg); err != nil {
		t.Fatalf("stream Write: %v", err)
	}
	if err := str.Close(); err != nil {
		t.Fatalf("stream Close: %v", err)
	}
	if err := str.SetReadDeadline(time.Now().Add(waitLimit)); err != nil {
		t.Fatal(err)
	}
	echo, err := io.ReadAll(str)
	if err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if string(echo) != string(msg) {
		t.Fatalf("echo differs: got %d bytes, sent %d", len(echo), len(msg))
	}
	if err := <-serverDone; err != nil {
		t.Fatalf("server: %v", err)
	}
	return conn.ConnectionStats()
}

// quicEcho accepts one connection and echoes its first stream.
func quicEcho(ctx context.Context, ln *quic.Listener) error {
	conn, err := ln.Accept(ctx)
	if err != nil {
		return err
	}
	str, err := conn.AcceptStream(ctx)
	if err != nil {
		return err
	}
	if _, err := io.Copy(str, str); err != nil {
		return err
	}
	// The connection stays open (the transport closes it at the end of the
	// test), so the echo is delivered even while this returns.
	return str.Close()
}

// TestQUICNonQUICPacketPath: a datagram without the QUIC bit, sent to a
// quic-go Transport on a fabric conn, comes out of ReadNonQUICPacket. This
// is the path memberlist gossip takes to share the QUIC socket.
func TestQUICNonQUICPacketPath(t *testing.T) {
	f := newTestFabric(t)
	f.SetLatency("gossiper", "node", time.Millisecond)
	nodeConn, other := listen(t, f, "node"), listen(t, f, "gossiper")
	tr := &quic.Transport{Conn: nodeConn}
	defer tr.Close()

	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	got := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, 1500)
		n, from, err := tr.ReadNonQUICPacket(ctx, buf)
		if err != nil {
			errc <- err
			return
		}
		if from.String() != f.Addr("gossiper").String() {
			errc <- &net.AddrError{Err: "unexpected source", Addr: from.String()}
			return
		}
		got <- string(buf[:n])
	}()
	// 0x00: QUIC bit (0x40) clear, short header form: not a QUIC packet.
	payload := "\x00gossip"
	eventually(t, "the non-QUIC datagram to come through", func() bool {
		// quic-go starts reading only after ReadNonQUICPacket sets the
		// transport up, so resend until it is listening.
		send(t, other, f.Addr("node"), []byte(payload))
		select {
		case s := <-got:
			if s != payload {
				t.Fatalf("ReadNonQUICPacket = %q, want %q", s, payload)
			}
			return true
		case err := <-errc:
			t.Fatalf("ReadNonQUICPacket: %v", err)
		default:
		}
		return false
	})
	if _, err := tr.WriteTo([]byte("\x00reply"), f.Addr("gossiper")); err != nil {
		t.Fatalf("Transport.WriteTo: %v", err)
	}
	if b, _ := recv(t, other); string(b) != "\x00reply" {
		t.Errorf("gossiper read %q", b)
	}
}
