'use strict';
// node:string_decoder: the npm package string_decoder (vendor/string_decoder).
module.exports = require('./vendor/string_decoder/string_decoder.js');
