package sysinfo

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGet(t *testing.T) {
	info, err := Get()
	require.NoError(t, err)
	assert.NotEmpty(t, info.Kernel)
	assert.NotEmpty(t, info.Machine)
	assert.Greater(t, info.PageSize, 0)
	assert.Zero(t, info.PageSize&(info.PageSize-1), "page size is a power of two")
}
