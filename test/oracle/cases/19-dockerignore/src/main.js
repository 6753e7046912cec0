src / main.js;
