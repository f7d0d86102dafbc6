package phi

import "time"

// SigningSecret is one of a webhook destination's signing secrets as the service keeps it: the
// KMS ciphertext of its key, never the key. The key itself reaches the customer once, as
// "whsec_…" text, in the response that created it.
type SigningSecret struct {
	// Ciphertext is the KMS ciphertext blob of the key, bound to the destination by
	// SigningEncryptionContext.
	Ciphertext []byte    `json:"ciphertext"`
	CreatedAt  time.Time `json:"createdAt"`
	// ExpiresAt is when a replaced secret stops signing (the end of its rotation's overlap);
	// nil for the current secret.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// SigningSecrets are a webhook destination's signing secrets: the current one first and, while
// a rotation's overlap lasts, the one it replaced. Every delivery is signed with each secret
// that has not expired.
type SigningSecrets struct {
	WorkspaceID   string          `json:"workspaceId"`
	DestinationID string          `json:"destinationId"`
	Secrets       []SigningSecret `json:"secrets"`
	// Version counts the writes of the secrets (1 on creation), so that a rotation never
	// overwrites a concurrent one.
	Version int64 `json:"version"`
}

// Live returns the secrets that sign deliveries at now: the current one and any replaced one
// whose overlap has not ended.
func (s *SigningSecrets) Live(now time.Time) []SigningSecret {
	out := make([]SigningSecret, 0, len(s.Secrets))
	for _, sec := range s.Secrets {
		if sec.ExpiresAt == nil || now.Before(*sec.ExpiresAt) {
			out = append(out, sec)
		}
	}
	return out
}

// Rotate returns s with next as its current secret and the secret it replaces kept, signing
// beside next, for overlap (none when overlap is zero). A replaced secret whose overlap is
// still running when s is rotated again is dropped: at most two secrets ever sign. s may be nil
// (a destination without secrets yet).
func (s *SigningSecrets) Rotate(next SigningSecret, now time.Time, overlap time.Duration) *SigningSecrets {
	out := &SigningSecrets{Secrets: []SigningSecret{next}}
	if s == nil {
		return out
	}
	out.WorkspaceID, out.DestinationID, out.Version = s.WorkspaceID, s.DestinationID, s.Version
	for _, cur := range s.Secrets {
		if cur.ExpiresAt == nil && overlap > 0 {
			end := now.Add(overlap).UTC().Truncate(time.Second)
			cur.ExpiresAt = &end
			out.Secrets = append(out.Secrets, cur)
			break
		}
	}
	return out
}

// SigningEncryptionContext is the KMS encryption context a destination's signing secrets are
// generated under (GenerateDataKey, by the config and console functions) and decrypted with
// (Decrypt, by the delivery function). It binds a ciphertext to its destination, so one copied
// onto another destination's item does not decrypt, and its purpose entry is what the key
// policy and the delivery function's grant require.
func SigningEncryptionContext(wsID, dstID string) map[string]string {
	return map[string]string{
		"phiguard:purpose":     SigningSecretPurpose,
		"phiguard:workspace":   wsID,
		"phiguard:destination": dstID,
	}
}

// SigningSecretPurpose is the "phiguard:purpose" entry of SigningEncryptionContext.
const SigningSecretPurpose = "webhook-signing-secret"
