package pgtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// CertKind selects the server certificate a TLS-enabled server presents.
type CertKind int

const (
	// CertValid is signed by the server's CA, with SANs localhost, 127.0.0.1 and ::1.
	CertValid CertKind = iota
	// CertWrongSAN is signed by the CA, but its only SAN is wrong.example.invalid.
	CertWrongSAN
	// CertExpired is signed by the CA, with the right SANs, but expired a day ago.
	CertExpired
	// CertSelfSigned has the right SANs but is not signed by the CA.
	CertSelfSigned
	// CertExpiringSoon is signed by the CA, valid now, and expires in about 10 days.
	CertExpiringSoon
)

// String returns the constant's name without its prefix, as used in test names.
func (k CertKind) String() string {
	switch k {
	case CertValid:
		return "Valid"
	case CertWrongSAN:
		return "WrongSAN"
	case CertExpired:
		return "Expired"
	case CertSelfSigned:
		return "SelfSigned"
	case CertExpiringSoon:
		return "ExpiringSoon"
	}
	return fmt.Sprintf("CertKind(%d)", int(k))
}

// WrongSANHost is the only SAN of a CertWrongSAN certificate.
const WrongSANHost = "wrong.example.invalid"

// tlsMaterial is a CA and one server certificate, all PEM-encoded.
type tlsMaterial struct {
	ca      *x509.Certificate
	caPEM   []byte
	leaf    *x509.Certificate
	leafPEM []byte
	keyPEM  []byte
}

// newTLSMaterial makes a fresh CA and a server certificate of the given kind.
// ECDSA P-256 keeps this at about a millisecond.
func newTLSMaterial(kind CertKind, now time.Time) (*tlsMaterial, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pgtest: generate CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "flowpg pgtest CA", Organization: []string{"flowpg tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(2, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("pgtest: create CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("pgtest: parse CA certificate: %w", err)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pgtest: generate server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"flowpg tests"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	parent, signer := ca, caKey
	switch kind {
	case CertValid:
	case CertWrongSAN:
		tmpl.Subject.CommonName = WrongSANHost
		tmpl.DNSNames, tmpl.IPAddresses = []string{WrongSANHost}, nil
	case CertExpired:
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-30*24*time.Hour), now.Add(-24*time.Hour)
	case CertSelfSigned:
		parent, signer = tmpl, key
	case CertExpiringSoon:
		tmpl.NotAfter = now.Add(10 * 24 * time.Hour)
	default:
		return nil, fmt.Errorf("pgtest: unknown %v", kind)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, fmt.Errorf("pgtest: create server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pgtest: parse server certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pgtest: marshal server key: %w", err)
	}
	return &tlsMaterial{
		ca:      ca,
		caPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		leaf:    leaf,
		leafPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// serial returns a random positive 127-bit certificate serial number.
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand does not fail on supported platforms.
		panic("pgtest: " + err.Error())
	}
	return n.Add(n, big.NewInt(1))
}
