package keygen

import (
	"bytes"
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/phi"
)

// hmacKeyLen is the length of an HMAC key: KMS GenerateDataKey with KeySpec AES_256.
const hmacKeyLen = 32

// keyPairSpec returns the KMS GenerateDataKeyPair spec of an algorithm and RSA size, as
// fieldcrypt.KMSKeyPairSpec names it, and false when KMS has none: for hpke-xwing (its seed comes
// from GenerateRandom) and for an algorithm or size fieldcrypt refuses.
func keyPairSpec(alg fieldcrypt.Algorithm, rsaBits int) (types.DataKeyPairSpec, bool) {
	spec, err := fieldcrypt.KMSKeyPairSpec(alg, rsaBits)
	if err != nil || spec == "" {
		return "", false
	}
	return types.DataKeyPairSpec(spec), true
}

// encryptionContext binds KMS calls to the key they are made for; it appears in CloudTrail.
func encryptionContext(wsID, dstID, keyID string) map[string]string {
	return map[string]string{"phiguard:workspace": wsID, "phiguard:destination": dstID, "phiguard:key": keyID}
}

// newKeyPair generates a key pair for alg through KMS under the service's CMK and returns its
// validated public key and the private key as PKCS#8 PEM. The caller must clear the PEM once it
// has been sent. KMS's plaintext and ciphertext copies of the private key are overwritten before
// newKeyPair returns, and errors never contain key material.
func (s *Service) newKeyPair(ctx context.Context, alg fieldcrypt.Algorithm, rsaBits int, wsID, dstID, keyID string) (*fieldcrypt.PublicKey, []byte, error) {
	if alg == fieldcrypt.HPKEXWing {
		out, err := s.KMS.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(fieldcrypt.XWingSeedLen)})
		if err != nil {
			return nil, nil, fmt.Errorf("KMS GenerateRandom for an X-Wing seed: %w", err)
		}
		defer clear(out.Plaintext)
		if len(out.Plaintext) != fieldcrypt.XWingSeedLen {
			return nil, nil, fmt.Errorf("KMS GenerateRandom returned %d bytes, want %d", len(out.Plaintext), fieldcrypt.XWingSeedLen)
		}
		priv, err := fieldcrypt.XWingKeyFromSeed(out.Plaintext)
		if err != nil {
			return nil, nil, fmt.Errorf("derive X-Wing key: %w", err)
		}
		return priv.Public(), priv.PEM(), nil
	}

	spec, ok := keyPairSpec(alg, rsaBits)
	if !ok {
		return nil, nil, fmt.Errorf("no KMS key pair spec for %s with %d bits", alg, rsaBits)
	}
	out, err := s.KMS.GenerateDataKeyPair(ctx, &kms.GenerateDataKeyPairInput{
		KeyId:             aws.String(s.CMK),
		KeyPairSpec:       spec,
		EncryptionContext: encryptionContext(wsID, dstID, keyID),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("KMS GenerateDataKeyPair %s: %w", spec, err)
	}
	// The encrypted copy of the private key is never used: the service keeps no way to recover
	// a private key. Overwrite both copies as soon as the PEM is built.
	defer func() {
		clear(out.PrivateKeyPlaintext)
		clear(out.PrivateKeyCiphertextBlob)
		out.PrivateKeyPlaintext, out.PrivateKeyCiphertextBlob = nil, nil
	}()
	if len(out.PrivateKeyPlaintext) == 0 {
		return nil, nil, fmt.Errorf("KMS GenerateDataKeyPair %s returned no private key", spec)
	}
	pub, err := fieldcrypt.ParsePublicKeyDER(out.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("KMS GenerateDataKeyPair %s public key: %w", spec, err)
	}
	if pub.Algorithm() != alg || (alg == fieldcrypt.RSAOAEPSHA256 && pub.Bits() != rsaBits) {
		return nil, nil, fmt.Errorf("KMS GenerateDataKeyPair %s returned a %s key of %d bits", spec, pub.Algorithm(), pub.Bits())
	}
	return pub, privateKeyPEM(out.PrivateKeyPlaintext), nil
}

// newHMACKey generates a 32-byte HMAC key through KMS GenerateDataKey under the service's CMK and
// returns the KMS ciphertext blob (to store) and the plaintext key as standard base64 (to return
// once; the caller clears it). KMS's plaintext is overwritten before newHMACKey returns. The blob
// is bound to k by k.HMACEncryptionContext(), which the pipeline passes to Decrypt.
func (s *Service) newHMACKey(ctx context.Context, k *phi.Key) (blob, secret []byte, err error) {
	out, err := s.KMS.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId: aws.String(s.CMK), KeySpec: types.DataKeySpecAes256, EncryptionContext: k.HMACEncryptionContext(),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("KMS GenerateDataKey AES_256: %w", err)
	}
	defer func() {
		clear(out.Plaintext)
		out.Plaintext = nil
	}()
	if len(out.Plaintext) != hmacKeyLen || len(out.CiphertextBlob) == 0 {
		return nil, nil, fmt.Errorf("KMS GenerateDataKey AES_256 returned a %d-byte key and a %d-byte blob", len(out.Plaintext), len(out.CiphertextBlob))
	}
	return bytes.Clone(out.CiphertextBlob), base64Secret(out.Plaintext), nil
}
