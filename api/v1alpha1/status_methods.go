package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// The methods below let controllers write the status of every kind through
// one helper: the conditions list and the observed generation.

// StatusConditions returns the status conditions for in-place updates.
func (in *ServiceAccount) StatusConditions() *[]metav1.Condition { return &in.Status.Conditions }

// SetObservedGeneration records the generation the status describes.
func (in *ServiceAccount) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// StatusConditions returns the status conditions for in-place updates.
func (in *AccessRule) StatusConditions() *[]metav1.Condition { return &in.Status.Conditions }

// SetObservedGeneration records the generation the status describes.
func (in *AccessRule) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// StatusConditions returns the status conditions for in-place updates.
func (in *ClientCredential) StatusConditions() *[]metav1.Condition { return &in.Status.Conditions }

// SetObservedGeneration records the generation the status describes.
func (in *ClientCredential) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }
