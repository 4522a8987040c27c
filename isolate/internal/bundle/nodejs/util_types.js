'use strict';
// node:util/types.
module.exports = require('./internal/types.js');
