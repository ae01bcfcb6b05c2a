package broker

import "errors"

var errPatternNamespace = errors.New("broker: acknowledged broadcast on a pattern namespace; use a concrete one")
