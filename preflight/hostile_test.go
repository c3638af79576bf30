package preflight_test

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/preflight"
)

// hostileServer declines TLS, then answers every startup with reply and
// holds the connection open, reading, until the test ends.
func hostileServer(t *testing.T, reply []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for {
					var hdr [8]byte
					if _, err := io.ReadFull(c, hdr[:]); err != nil {
						return
					}
					if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(hdr[:4]))-8); err != nil {
						return
					}
					if binary.BigEndian.Uint32(hdr[4:]) == 80877103 { // SSLRequest
						if _, err := c.Write([]byte{'N'}); err != nil {
							return
						}
						continue
					}
					if _, err := c.Write(reply); err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, c)
					return
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// errorResponse is a FATAL ErrorResponse with SQLSTATE code and message.
func errorResponse(code, message string) []byte {
	var body []byte
	for _, f := range [][2]string{{"S", "FATAL"}, {"C", code}, {"M", message}} {
		body = append(append(append(body, f[0]...), f[1]...), 0)
	}
	body = append(body, 0)
	return append(binary.BigEndian.AppendUint32([]byte{'E'}, uint32(len(body)+4)), body...)
}

// A server decides how long its messages are. One that announces a message
// of megabytes is cut off at once as not PostgreSQL, rather than waited for
// and given the memory; one that sends an error of hundreds of kilobytes
// makes a report of a few.
func TestHostile_ServerMessageSizes(t *testing.T) {
	t.Run("a message announced at 8 MiB", func(t *testing.T) {
		// The header alone, then silence: pgx, unbounded, would wait for
		// the 8 MiB until the timeout.
		header := binary.BigEndian.AppendUint32([]byte{'E'}, 8<<20+4)
		c := connTo(t, hostileServer(t, header), connstr.SSLDisable)
		rep := timed(t, c, preflight.Options{Timeout: 20 * time.Second})
		auth := rep.Check(preflight.StageAuth)
		require.Equal(t, preflight.Fail, auth.Status, auth.Message)
		assert.Equal(t, preflight.KindNotPostgres, auth.Kind, auth.Message)
		assert.Equal(t, preflight.FieldPort, auth.Field)
		assert.Contains(t, auth.Message, "8388608 bytes")
		assert.Less(t, auth.Duration, 10*time.Second, "cut off, not waited for")
	})
	t.Run("an error of 512 KiB", func(t *testing.T) {
		msg := "no such user " + strings.Repeat("A", 512<<10)
		c := connTo(t, hostileServer(t, errorResponse("XX000", msg)), connstr.SSLDisable)
		rep := timed(t, c, preflight.Options{Timeout: 20 * time.Second})
		auth := rep.Check(preflight.StageAuth)
		require.Equal(t, preflight.Fail, auth.Status, auth.Message)
		assert.Contains(t, auth.Message, "no such user AAAA")
		assert.Less(t, len(auth.Message), 2<<10)
		b, err := json.Marshal(rep)
		require.NoError(t, err)
		assert.Less(t, len(b), 16<<10, "the whole report stays small")
	})
}

// oddTLSServer answers every SSLRequest with answer, a byte PostgreSQL never
// sends, and counts the startup messages that arrive in plaintext.
func oddTLSServer(t *testing.T, answer byte) (addr string, startups *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	startups = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var hdr [8]byte
				if _, err := io.ReadFull(c, hdr[:]); err != nil {
					return
				}
				if binary.BigEndian.Uint32(hdr[4:]) != 80877103 { // not SSLRequest: a startup
					startups.Add(1)
					_, _ = io.Copy(io.Discard, c)
					return
				}
				_, _ = c.Write([]byte{answer})
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln.Addr().String(), startups
}

// A server that answers the TLS request with neither S nor N is not
// PostgreSQL: Prefer does not fall back to sending the startup and the
// password in plaintext (libpq stops there too), and no stage reads the
// answer as "ssl = off".
func TestHostile_OddAnswerToTLSRequest(t *testing.T) {
	t.Run("Prefer stops", func(t *testing.T) {
		addr, startups := oddTLSServer(t, 'H')
		rep := timed(t, connTo(t, addr, connstr.SSLPrefer), preflight.Options{Timeout: 5 * time.Second})
		tlsStage := rep.Check(preflight.StageTLS)
		require.Equal(t, preflight.Fail, tlsStage.Status, tlsStage.Message)
		assert.Equal(t, preflight.KindNotPostgres, tlsStage.Kind)
		assert.Contains(t, tlsStage.Message, "'H'")
		assert.Zero(t, startups.Load(), "a startup went to the server in plaintext")
	})
	// The audit derives Prefer from the attempts it saw: it must stop where
	// a real Prefer stops, not go on to the plaintext attempt the audit
	// made for Disable (which this server never answers).
	t.Run("the audit's Prefer stops too", func(t *testing.T) {
		addr, _ := oddTLSServer(t, 'H')
		rep := timed(t, connTo(t, addr, connstr.SSLVerifyFull), preflight.Options{Timeout: 2 * time.Second, Audit: true})
		require.Len(t, rep.Audit, 6)
		for _, a := range rep.Audit[2:] { // prefer and stricter
			assert.False(t, a.OK, a.SSLMode.LibPQ())
			assert.Contains(t, a.Error, "'H'", a.SSLMode.LibPQ())
		}
	})
	t.Run("Disable says what the probe saw", func(t *testing.T) {
		addr, _ := oddTLSServer(t, 'H')
		rep := timed(t, connTo(t, addr, connstr.SSLDisable), preflight.Options{Timeout: 2 * time.Second})
		tlsStage := rep.Check(preflight.StageTLS)
		assert.Equal(t, preflight.Warn, tlsStage.Status)
		assert.Equal(t, preflight.FieldPort, tlsStage.Field)
		assert.Contains(t, tlsStage.Message, "does not look like PostgreSQL")
		assert.NotContains(t, tlsStage.Message, "ssl = off")
	})
}
