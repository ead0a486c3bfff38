-- The seed's usage and debugging examples (../shared/seeds/000_*.txt), verbatim.
-- spec/seed_spec.lua runs them as a config file and as a plain script.

-- Define a web server with custom initialization
host "web-server" {
    -- Basic SSH connection properties
    Hostname = "example.com",
    User = "admin",
    
    -- init function runs when the host is first loaded
    -- Use it for dynamic configuration or validation
    init = function(host)
        -- Example: Set additional properties based on environment
        if os.getenv("ENVIRONMENT") == "production" then
            host.Port = "22"
            host.Tags = {"production", "web"}
        else
            host.Port = "2222"
            host.Tags = {"staging", "web"}
        end
    end
}

-- Define a deployment task with preparation and error handling
task "deploy" {
    -- prepare runs before the main script
    -- Use it for environment setup and validation
    prepare = function(task)
        -- Check if git is installed
        local git_check = task:run("which git")
        if git_check.exitStatus ~= 0 then
            error("Git is not installed on the system")
        end
    end,
    
    -- Main script with error handling and deployment logic
    script = function(task)
        -- Execute git pull and check result
        local result = task:run("git pull")
        if result.exitStatus == 0 then
            -- Successful pull, proceed with deployment
            task:run("npm install")
            task:run("npm run build")
            task:run("systemctl restart app")
        else
            -- Handle git pull failure
            error("Failed to pull latest code: " .. result.stderr)
        end
    end
}

-- Import required modules
local json = require "json"   -- JSON encoding/decoding
local fs = require "fs"       -- File system operations
local yaml = require "yaml"   -- YAML processing

-- Define a task to convert YAML config to JSON
task "config" {
    script = function(task)
        -- Read YAML configuration file
        local data = yaml.read("config.yml")
        if not data then
            error("Failed to read config.yml")
        end
        
        -- Convert to JSON string with proper formatting
        local json_str = json.encode(data, {
            indent = true,  -- Pretty print
            sort_keys = true  -- Consistent output
        })
        
        -- Write to new JSON file
        local ok = fs.write("config.json", json_str)
        if not ok then
            error("Failed to write config.json")
        end
    end
}

local ok, err = pcall(function()
    -- Your code here
end)
if not ok then
    print("Error:", err)
end

local log = require "log"
log.info("Starting task...")
log.error("Failed to connect:", err)

local inspect = require "inspect"
print(inspect(someTable))

