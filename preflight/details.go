package preflight

// Typed access to a stage's findings, so that callers need no type switch
// on Result.Details. Each accessor returns a copy of the details and true,
// or the zero value and false when the stage (or its details) is missing:
// a stage skipped, or one that failed before it found anything.

// details returns the details of r as *T, when they are.
func details[T any](r *Result) (T, bool) {
	var zero T
	if r == nil {
		return zero, false
	}
	d, ok := r.Details.(*T)
	if !ok || d == nil {
		return zero, false
	}
	return *d, true
}

// Input returns the findings of the input stage, when this result has them.
func (r *Result) Input() (InputDetails, bool) { return details[InputDetails](r) }

// Address returns the findings of the address stage, when this result has them.
func (r *Result) Address() (AddressDetails, bool) { return details[AddressDetails](r) }

// DNS returns the findings of the dns stage, when this result has them.
func (r *Result) DNS() (DNSDetails, bool) { return details[DNSDetails](r) }

// TCP returns the findings of the tcp stage, when this result has them.
func (r *Result) TCP() (TCPDetails, bool) { return details[TCPDetails](r) }

// TLS returns the findings of the tls stage, when this result has them.
func (r *Result) TLS() (TLSDetails, bool) { return details[TLSDetails](r) }

// Certificate returns the findings of the certificate stage, when this result has them.
func (r *Result) Certificate() (CertificateDetails, bool) { return details[CertificateDetails](r) }

// SSLMode returns the findings of the sslmode stage, when this result has them.
func (r *Result) SSLMode() (SSLModeDetails, bool) { return details[SSLModeDetails](r) }

// Auth returns the findings of the auth stage, when this result has them.
func (r *Result) Auth() (AuthDetails, bool) { return details[AuthDetails](r) }

// Server returns the findings of the server stage, when this result has them.
func (r *Result) Server() (ServerDetails, bool) { return details[ServerDetails](r) }

// Privileges returns the findings of the privileges stage, when this result has them.
func (r *Result) Privileges() (PrivilegesDetails, bool) { return details[PrivilegesDetails](r) }

// Input returns the findings of the report's input stage (Result.Input).
func (r *Report) Input() (InputDetails, bool) { return r.Check(StageInput).Input() }

// Address returns the findings of the report's address stage (Result.Address).
func (r *Report) Address() (AddressDetails, bool) { return r.Check(StageAddress).Address() }

// DNS returns the findings of the report's dns stage (Result.DNS).
func (r *Report) DNS() (DNSDetails, bool) { return r.Check(StageDNS).DNS() }

// TCP returns the findings of the report's tcp stage (Result.TCP).
func (r *Report) TCP() (TCPDetails, bool) { return r.Check(StageTCP).TCP() }

// TLS returns the findings of the report's tls stage (Result.TLS).
func (r *Report) TLS() (TLSDetails, bool) { return r.Check(StageTLS).TLS() }

// Certificate returns the findings of the report's certificate stage (Result.Certificate).
func (r *Report) Certificate() (CertificateDetails, bool) {
	return r.Check(StageCertificate).Certificate()
}

// SSLMode returns the findings of the report's sslmode stage (Result.SSLMode).
func (r *Report) SSLMode() (SSLModeDetails, bool) { return r.Check(StageSSLMode).SSLMode() }

// Auth returns the findings of the report's auth stage (Result.Auth).
func (r *Report) Auth() (AuthDetails, bool) { return r.Check(StageAuth).Auth() }

// Server returns the findings of the report's server stage (Result.Server).
func (r *Report) Server() (ServerDetails, bool) { return r.Check(StageServer).Server() }

// Privileges returns the findings of the report's privileges stage (Result.Privileges).
func (r *Report) Privileges() (PrivilegesDetails, bool) { return r.Check(StagePrivileges).Privileges() }
