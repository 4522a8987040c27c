'use strict';
// node:path (POSIX): the npm package path-browserify (vendor/path-browserify),
// a copy of Node's own path.posix. process.cwd() is "/".
module.exports = require('./vendor/path-browserify/index.js');
