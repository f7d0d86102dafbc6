package awsclient_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/phiguard/phiguard/shared/awstest"
)

// The wiring test: the clients built by awsclient reach the emulators through the SDK's own
// endpoint variables, with nothing endpoint-specific in product code.
func TestDynamoDBRoundTripThroughTheEmulator(t *testing.T) {
	ctx := context.Background()
	c := awstest.Clients(t)
	table := awstest.UniqueName("wiring")

	_, err := c.DynamoDB.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash},
		},
	})
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
	t.Cleanup(func() {
		_, _ = c.DynamoDB.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})

	_, err = c.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item: map[string]ddbtypes.AttributeValue{
			"pk":   &ddbtypes.AttributeValueMemberS{Value: "workspace#1"},
			"name": &ddbtypes.AttributeValueMemberS{Value: "Acme Health"},
		},
	})
	if err != nil {
		t.Fatalf("put item: %v", err)
	}
	out, err := c.DynamoDB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "workspace#1"}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("get item: %v", err)
	}
	name, ok := out.Item["name"].(*ddbtypes.AttributeValueMemberS)
	if !ok || name.Value != "Acme Health" {
		t.Fatalf("got item %v, want name %q", out.Item, "Acme Health")
	}
}

func TestGenerateDataKeyPairThroughTheEmulator(t *testing.T) {
	ctx := context.Background()
	c := awstest.Clients(t)
	key, err := c.KMS.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("wiring test")})
	if err != nil {
		t.Fatalf("create key: %v", err)
	}

	tests := []struct {
		name  string
		spec  kmstypes.DataKeyPairSpec
		check func(t *testing.T, pub any)
	}{
		{"ECC_NIST_P256 yields a P-256 public key", kmstypes.DataKeyPairSpecEccNistP256, func(t *testing.T, pub any) {
			k, ok := pub.(*ecdsa.PublicKey)
			if !ok || k.Curve != elliptic.P256() {
				t.Fatalf("public key is %T, want P-256 ECDSA", pub)
			}
		}},
		{"RSA_2048 yields a 2048-bit RSA public key", kmstypes.DataKeyPairSpecRsa2048, func(t *testing.T, pub any) {
			k, ok := pub.(*rsa.PublicKey)
			if !ok || k.N.BitLen() != 2048 {
				t.Fatalf("public key is %T, want 2048-bit RSA", pub)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.KMS.GenerateDataKeyPair(ctx, &kms.GenerateDataKeyPairInput{
				KeyId:       key.KeyMetadata.KeyId,
				KeyPairSpec: tt.spec,
			})
			if err != nil {
				t.Fatalf("GenerateDataKeyPair: %v", err)
			}
			pub, err := x509.ParsePKIXPublicKey(out.PublicKey)
			if err != nil {
				t.Fatalf("parse public key: %v", err)
			}
			tt.check(t, pub)
			priv, err := x509.ParsePKCS8PrivateKey(out.PrivateKeyPlaintext)
			if err != nil {
				t.Fatalf("parse private key: %v", err)
			}
			derived, err := x509.MarshalPKIXPublicKey(priv.(interface{ Public() crypto.PublicKey }).Public())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(derived, out.PublicKey) {
				t.Fatal("private key does not match the public key KMS returned")
			}
			if len(out.PrivateKeyCiphertextBlob) == 0 {
				t.Fatal("no encrypted private key returned")
			}
		})
	}
}
