package record

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
)

// SecretType marks credential record Secrets for people and tools.
const SecretType corev1.SecretType = "iam.signet.dev/credential-record"

// This file holds the only writer of credential records: the manager
// applies ApplyConfiguration, and the token server's tests build the same
// object with Secret, so both read and write one format.

// recordLabels are the labels of rec's Secret: Signet's component labels,
// the objects it was compiled from, and its client_id.
func recordLabels(rec *Record) map[string]string {
	labels := WorkloadLabels(ComponentCredentialRecord, rec.Namespace, rec.Credential, rec.ServiceAccount)
	labels[LabelClientID] = rec.ClientID
	if rec.CredentialUID != "" {
		labels[LabelCredentialUID] = rec.CredentialUID
	}
	if rec.HandoverUntil != nil {
		labels[LabelHandover] = "true"
	}
	return labels
}

// ApplyConfiguration renders rec as a server-side apply configuration of
// its Secret in namespace, with the encoded record for comparison with what
// is stored. It carries no owner reference: the ClientCredential is in
// another namespace, and its finalizer deletes the record.
func ApplyConfiguration(namespace string, rec *Record) (*corev1ac.SecretApplyConfiguration, []byte, error) {
	data, err := rec.Marshal()
	if err != nil {
		return nil, nil, err
	}
	ac := corev1ac.Secret(SecretName(rec.ClientID), namespace).
		WithType(SecretType).
		WithLabels(recordLabels(rec)).
		WithData(map[string][]byte{RecordKey: data})
	return ac, data, nil
}

// Secret renders rec as the Secret ApplyConfiguration describes.
func Secret(namespace string, rec *Record) (*corev1.Secret, error) {
	data, err := rec.Marshal()
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: SecretName(rec.ClientID), Namespace: namespace, Labels: recordLabels(rec)},
		Type:       SecretType,
		Data:       map[string][]byte{RecordKey: data},
	}, nil
}
